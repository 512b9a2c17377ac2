using System.Numerics;

namespace Unroll.Tensors;

/// <summary>
/// A trainable tensor and its gradient (same shape). Backward passes <b>add into</b> <see cref="Grad"/>;
/// <see cref="ModuleExtensions.ZeroGrad{T}"/> clears it. Sharing one <see cref="Parameter{T}"/> object between two
/// layers ties their weights: both add their gradients into the same buffer.
/// </summary>
public sealed class Parameter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Name, e.g. "lstm0.Wx".</summary>
    public string Name { get; set; }
    /// <summary>The value.</summary>
    public Tensor<T> Value { get; }
    /// <summary>∂L/∂Value, accumulated by backward passes.</summary>
    public Tensor<T> Grad { get; }

    public Parameter(string name, Tensor<T> value)
    {
        Name = name;
        Value = value;
        Grad = new Tensor<T>(value.Shape.ToArray());
    }

    public override string ToString() => $"{Name}{Value.ShapeString}";
}

/// <summary>Anything that owns parameters: a node, a layer, a model.</summary>
public interface IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The trainable parameters (each shared object listed once per owner).</summary>
    IEnumerable<Parameter<T>> Parameters { get; }
}

public static class ModuleExtensions
{
    /// <summary>
    /// Clears every parameter gradient of <paramref name="module"/> (tied parameters once). For a large model whose
    /// <see cref="IModule{T}.Parameters"/> is a list, the clearing is spread over <see cref="Kernels.Gemm.Threads"/>
    /// cores (<see cref="Optim.ParameterSweep"/>); nothing is allocated per call.
    /// </summary>
    public static void ZeroGrad<T>(this IModule<T> module) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ps = module.Parameters;
        if (ps is IReadOnlyList<Parameter<T>> list)
        {
            Optim.ParameterSweep.Zero(list);                                // no enumerator allocated per update
            return;
        }
        foreach (var p in ps) p.Grad.Clear();
    }

    /// <summary>The distinct parameters (by reference), in first-seen order: tied weights appear once.</summary>
    public static List<Parameter<T>> DistinctParameters<T>(this IModule<T> module) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var seen = new HashSet<Parameter<T>>(ReferenceEqualityComparer.Instance);
        var list = new List<Parameter<T>>();
        foreach (var p in module.Parameters) if (seen.Add(p)) list.Add(p);
        return list;
    }
}
