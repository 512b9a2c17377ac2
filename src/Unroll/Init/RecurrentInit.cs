using System.Numerics;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Init;

/// <summary>
/// How a recurrent layer initialises itself. Defaults = the textbook: Wx ~ N(0,1)/√D, Wh ~ N(0,1)/√H, b = 0.
/// Gated cells fill each gate's (·×H) block separately (<see cref="Initializers.FillBlocks{T}"/>), so Orthogonal
/// and Identity apply per gate. Wx is drawn before Wh from the same <see cref="Rng"/>.
/// </summary>
public sealed record RecurrentInit
{
    /// <summary>Scheme for Wx (D×kH).</summary>
    public WeightInit Input { get; init; } = WeightInit.Xavier;
    /// <summary>Gain (std for Gaussian) for Wx.</summary>
    public double InputScale { get; init; } = 1.0;
    /// <summary>Scheme for Wh (H×kH).</summary>
    public WeightInit Recurrent { get; init; } = WeightInit.Xavier;
    /// <summary>Gain (std for Gaussian) for Wh — e.g. Gaussian 0.5 vs 1.0 for the vanishing/exploding demo.</summary>
    public double RecurrentScale { get; init; } = 1.0;
    /// <summary>LSTM only: value of the forget-gate bias b_f (0 = textbook; 1 is common).</summary>
    public double ForgetBias { get; init; }

    /// <summary>The textbook defaults.</summary>
    public static RecurrentInit Default { get; } = new();

    /// <summary>Creates the parameters of a layer: Wx (D×kH), Wh (H×kH), b (kH), and bhN (H) for GRU.</summary>
    public static (Parameter<T> wx, Parameter<T> wh, Parameter<T> b, Parameter<T>? bhn) CreateWeights<T>(
        CellType cell, int inputSize, int hiddenSize, Rng rng, RecurrentInit? init, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(rng);
        init ??= Default;
        if (inputSize <= 0 || hiddenSize <= 0)
            throw new ArgumentException($"'{name}': input size {inputSize} and hidden size {hiddenSize} must be positive.");
        int k = TimeRecurrentBase<T>.GatesOf(cell);
        if (init.ForgetBias != 0 && cell != CellType.Lstm)
            throw new ArgumentException($"'{name}': ForgetBias applies to LSTM only, the cell is {cell}.");
        var wx = new Tensor<T>(inputSize, k * hiddenSize);
        var wh = new Tensor<T>(hiddenSize, k * hiddenSize);
        var b = new Tensor<T>(k * hiddenSize);
        Initializers.FillBlocks(init.Input, wx, k, rng, init.InputScale);
        Initializers.FillBlocks(init.Recurrent, wh, k, rng, init.RecurrentScale);
        if (cell == CellType.Lstm && init.ForgetBias != 0) Initializers.LstmForgetBias(b, hiddenSize, init.ForgetBias);
        Parameter<T>? bhn = cell == CellType.Gru ? new Parameter<T>($"{name}.bhN", new Tensor<T>(hiddenSize)) : null;
        return (new Parameter<T>($"{name}.Wx", wx), new Parameter<T>($"{name}.Wh", wh), new Parameter<T>($"{name}.b", b), bhn);
    }
}
