using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Nodes;

/// <summary>
/// A node with one input and one output. <c>Forward</c> caches only what <c>Backward</c> needs and returns a
/// workspace owned by the node (valid until the next <c>Forward</c>); <c>Backward</c> returns ∂L/∂x in another
/// workspace and <b>adds</b> parameter gradients into <see cref="Parameter{T}.Grad"/>.
/// </summary>
public interface INode<T> : IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>y = f(x).</summary>
    Tensor<T> Forward(Tensor<T> x);
    /// <summary>dx = ∂L/∂x given dy = ∂L/∂y (for the most recent <see cref="Forward"/>).</summary>
    Tensor<T> Backward(Tensor<T> dy);
}
