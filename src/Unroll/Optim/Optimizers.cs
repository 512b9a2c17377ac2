using System.Numerics;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Optim;

/// <summary>Plain SGD (torch.optim.SGD, no momentum): w ← w − lr·g.</summary>
public sealed class Sgd<T>(double learningRate) : Optimizer<T>(learningRate) where T : unmanaged, IFloatingPointIeee754<T>
{
    public override string Kind => "sgd";
    protected internal override bool UsesScratch => false;
    protected override string[] SlotNames => [];
    public override Dictionary<string, double> Hyperparameters => [];

    protected override void Update(Span<T> w, ReadOnlySpan<T> g, OptimizerSlots<T> slots, Span<T> tmp)
        => TP.MultiplyAdd<T>(g, C(-LearningRate), w, w);                 // w ← w − lr·g
}

/// <summary>
/// SGD with momentum in PyTorch's form (torch.optim.SGD(momentum=μ), dampening 0): b ← μ·b + g; w ← w − lr·b
/// (b starts at 0, so the first b is g, as in PyTorch). Differs from the textbook's v ← μv − lr·g only when lr changes.
/// </summary>
public sealed class Momentum<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Momentum(double learningRate, double momentum = 0.9) : base(learningRate)
    {
        if (!(momentum >= 0 && momentum < 1)) throw new ArgumentException($"Momentum: momentum must be in [0, 1), got {momentum}.");
        Mu = momentum;
    }
    public double Mu { get; }
    public override string Kind => "momentum";
    protected internal override bool UsesScratch => false;
    protected override string[] SlotNames => ["buf"];
    public override Dictionary<string, double> Hyperparameters => new() { ["momentum"] = Mu };

    protected override void Update(Span<T> w, ReadOnlySpan<T> g, OptimizerSlots<T> slots, Span<T> tmp)
    {
        var b = slots[0];
        TP.MultiplyAdd<T>(b, C(Mu), g, b);                                // b ← μ·b + g
        TP.MultiplyAdd<T>(b, C(-LearningRate), w, w);                     // w ← w − lr·b
    }
}

/// <summary>AdaGrad as torch.optim.Adagrad (lr_decay 0, initial accumulator 0): s ← s + g²; w ← w − lr·g / (√s + ε), ε = 1e-10.</summary>
public sealed class AdaGrad<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public AdaGrad(double learningRate, double eps = 1e-10) : base(learningRate) => Eps = eps;
    public double Eps { get; }
    public override string Kind => "adagrad";
    protected override string[] SlotNames => ["sum"];
    public override Dictionary<string, double> Hyperparameters => new() { ["eps"] = Eps };

    protected override void Update(Span<T> w, ReadOnlySpan<T> g, OptimizerSlots<T> slots, Span<T> tmp)
    {
        var s = slots[0];
        TP.MultiplyAdd<T>(g, g, s, s);                                    // s ← s + g²
        TP.Sqrt<T>(s, tmp);
        TP.Add<T>(tmp, C(Eps), tmp);                                      // √s + ε
        TP.Divide<T>(g, tmp, tmp);                                        // g / (√s + ε)
        TP.MultiplyAdd<T>(tmp, C(-LearningRate), w, w);                   // w ← w − lr·(…)
    }
}

/// <summary>RMSProp as torch.optim.RMSprop (not centered, no momentum): v ← α·v + (1−α)·g²; w ← w − lr·g / (√v + ε); α = 0.99, ε = 1e-8.</summary>
public sealed class RmsProp<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public RmsProp(double learningRate, double alpha = 0.99, double eps = 1e-8) : base(learningRate)
    {
        if (!(alpha >= 0 && alpha < 1)) throw new ArgumentException($"RmsProp: alpha must be in [0, 1), got {alpha}.");
        Alpha = alpha; Eps = eps;
    }
    public double Alpha { get; }
    public double Eps { get; }
    public override string Kind => "rmsprop";
    protected override string[] SlotNames => ["square_avg"];
    public override Dictionary<string, double> Hyperparameters => new() { ["alpha"] = Alpha, ["eps"] = Eps };

    protected override void Update(Span<T> w, ReadOnlySpan<T> g, OptimizerSlots<T> slots, Span<T> tmp)
    {
        var v = slots[0];
        TP.Multiply<T>(g, g, tmp);                                        // g²
        TP.Multiply<T>(tmp, C(1 - Alpha), tmp);
        TP.MultiplyAdd<T>(v, C(Alpha), tmp, v);                           // v ← α·v + (1−α)·g²
        TP.Sqrt<T>(v, tmp);
        TP.Add<T>(tmp, C(Eps), tmp);                                      // √v + ε
        TP.Divide<T>(g, tmp, tmp);
        TP.MultiplyAdd<T>(tmp, C(-LearningRate), w, w);                   // w ← w − lr·g/(√v + ε)
    }
}

/// <summary>
/// Adam as torch.optim.Adam (no weight decay, not amsgrad): m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
/// w ← w − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε); β₁ = 0.9, β₂ = 0.999, ε = 1e-8, t = number of steps.
/// </summary>
public sealed class Adam<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Adam(double learningRate, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8) : base(learningRate)
    {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) throw new ArgumentException($"Adam: betas must be in [0, 1), got ({beta1}, {beta2}).");
        Beta1 = beta1; Beta2 = beta2; Eps = eps;
    }
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public override string Kind => "adam";
    protected override string[] SlotNames => ["m", "v"];
    public override Dictionary<string, double> Hyperparameters => new() { ["beta1"] = Beta1, ["beta2"] = Beta2, ["eps"] = Eps };

    protected override void Update(Span<T> w, ReadOnlySpan<T> g, OptimizerSlots<T> slots, Span<T> tmp)
    {
        var m = slots[0]; var v = slots[1];
        double bc1 = 1 - Math.Pow(Beta1, Steps), bc2 = 1 - Math.Pow(Beta2, Steps);
        TP.Multiply<T>(g, C(1 - Beta1), tmp);
        TP.MultiplyAdd<T>(m, C(Beta1), tmp, m);                           // m ← β₁m + (1−β₁)g
        TP.Multiply<T>(g, g, tmp);
        TP.Multiply<T>(tmp, C(1 - Beta2), tmp);
        TP.MultiplyAdd<T>(v, C(Beta2), tmp, v);                           // v ← β₂v + (1−β₂)g²
        TP.Sqrt<T>(v, tmp);
        TP.Multiply<T>(tmp, C(1 / Math.Sqrt(bc2)), tmp);
        TP.Add<T>(tmp, C(Eps), tmp);                                      // √v/√bc₂ + ε
        TP.Divide<T>(m, tmp, tmp);
        TP.MultiplyAdd<T>(tmp, C(-LearningRate / bc1), w, w);             // w ← w − (lr/bc₁)·m/(…)
    }
}
