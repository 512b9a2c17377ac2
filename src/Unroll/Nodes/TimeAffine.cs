using System.Numerics;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Nodes;

/// <summary>
/// ys = xs · W + b at every time step, computed as ONE GEMM over the N·T rows.
/// xs, dxs: (N, T, D); ys, dys: (N, T, O); b: (O). W: (D, O), or — with <c>transposeW: true</c> — a (O, D)
/// matrix used transposed (ys = xs · Wᵀ + b), e.g. an embedding matrix (V, D) shared for weight tying.
/// Backward: dxs = dys · Wᵀ (or dys · W), dW += xsᵀ · dys (or dysᵀ · xs), db += Σ_{n,t} dys — added, never
/// overwritten, so a tied parameter receives the sum of both users' gradients.
/// </summary>
/// <remarks>
/// xs is cached by reference (no copy): it must not change between <see cref="Forward"/> and <see cref="Backward"/>.
/// NaN/±∞ propagate as IEEE-754 says; finite inputs overflow only if products exceed the type's range.
/// Subnormals appear only if products of inputs are themselves subnormal.
/// </remarks>
public sealed class TimeAffine<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _x, _y, _dx, _dxT;

    /// <summary>The weight: (D, O), or (O, D) when <see cref="TransposeW"/>.</summary>
    public Parameter<T> W { get; }
    /// <summary>The bias b, shape (O).</summary>
    public Parameter<T> B { get; }
    /// <summary>True when W is stored (O, D) and used transposed (weight tying with an embedding).</summary>
    public bool TransposeW { get; }
    /// <summary>Input width D.</summary>
    public int InputSize => TransposeW ? W.Value.Dim(1) : W.Value.Dim(0);
    /// <summary>Output width O.</summary>
    public int OutputSize => TransposeW ? W.Value.Dim(0) : W.Value.Dim(1);
    public IEnumerable<Parameter<T>> Parameters => [W, B];

    /// <param name="w">Weight (D, O); or (O, D) when <paramref name="transposeW"/> (e.g. a shared embedding matrix).</param>
    /// <param name="b">Bias (O).</param>
    /// <param name="transposeW">Use <paramref name="w"/> transposed: ys = xs · Wᵀ + b.</param>
    public TimeAffine(Parameter<T> w, Parameter<T> b, bool transposeW = false)
    {
        var wv = RowOps.RankOf("TimeAffine", w, 2);
        var bv = RowOps.RankOf("TimeAffine", b, 1);
        W = w; B = b; TransposeW = transposeW;
        if (bv.Length != OutputSize)
            throw new ArgumentException($"TimeAffine: W has shape {wv.ShapeString}{(transposeW ? " (used transposed)" : "")} but b has shape {bv.ShapeString} (need b length == O = {OutputSize}).");
    }

    /// <summary>ys (N, T, O) = xs (N, T, D) · W + b. Returns a workspace owned by the node.</summary>
    public Tensor<T> Forward(Tensor<T> xs)
    {
        NodeChecks.Rank("TimeAffine", "xs", xs, 3);
        if (xs.Dim(2) != InputSize)
            throw new ArgumentException($"TimeAffine: xs has shape {xs.ShapeString} but W has shape {W.Value.ShapeString}{(TransposeW ? " (used transposed)" : "")} (need D = {InputSize}).");
        _x = xs;
        var y = Workspace.Ensure(ref _y, xs.Dim(0), xs.Dim(1), OutputSize);
        int rows = xs.Dim(0) * xs.Dim(1), d = InputSize, o = OutputSize;
        // ys = xs · W + b (or xs · Wᵀ + b), N·T rows: the managed GEMM adds b inside each tile of ys, its kernel's
        // accumulators starting from it (no broadcast pass over the 28 MB of an LM's logits, which a beta = 1 product
        // then read back; for a narrow D also faster than folding b into the depth, [xs | 1]·[W ; b], which copied W
        // every call)
        Gemm.RunBias(false, TransposeW, rows, o, d, T.One, xs.Span, d, W.Value.Span, TransposeW ? d : o, B.Value.Span, y.Span, o);
        return y;
    }

    /// <summary>
    /// Below this input width D (with more rows than D) the untied backward computes dxsᵀ = W·dysᵀ and transposes it.
    /// </summary>
    internal const int NarrowInput = 256;

    /// <summary>dst (cols × rows) = srcᵀ for a row-major src (rows × cols).</summary>
    private static void Transpose(ReadOnlySpan<T> src, int rows, int cols, Span<T> dst)
    {
        for (int i = 0; i < rows; i++)
        {
            var row = src.Slice(i * cols, cols);
            for (int j = 0; j < cols; j++) dst[j * rows + i] = row[j];
        }
    }

    /// <summary>dxs (N, T, D) from dys (N, T, O); adds into W.Grad and B.Grad.</summary>
    public Tensor<T> Backward(Tensor<T> dys)
    {
        var x = _x ?? throw new InvalidOperationException("TimeAffine.Backward called before Forward.");
        NodeChecks.SameShape("TimeAffine", "dys", dys, "ys", _y!);
        var dx = Workspace.Ensure(ref _dx, x.Shape);
        // inverts ys = xs · W + b (or xs · Wᵀ + b)
        if (!TransposeW)
        {
            int rows = x.Length / Math.Max(InputSize, 1), d = InputSize, o = OutputSize;
            if (d < NarrowInput && rows > d)
            {
                // dxs = dys · Wᵀ computed as dxsᵀ (D, N·T) = W · dysᵀ, then transposed: for a narrow D (e.g. 100) the
                // product's tiles fit far better this way round (measured: bench/Unroll.Bench -- affine).
                var dxT = Workspace.Ensure(ref _dxT, d, rows);
                Gemm.Run(false, true, d, rows, o, T.One, W.Value.Span, o, dys.Span, o, T.Zero, dxT.Span, rows);
                Transpose(dxT.Span, d, rows, dx.Span);
            }
            else Gemm.MatMul(dys, false, W.Value, true, dx, T.One, T.Zero, "TimeAffine");   // dxs = dys · Wᵀ
            Gemm.MatMul(x, true, dys, false, W.Grad, T.One, T.One, "TimeAffine");     // dW (D,O) += xsᵀ · dys
        }
        else
        {
            Gemm.MatMul(dys, false, W.Value, false, dx, T.One, T.Zero, "TimeAffine");  // dxs = dys · W
            Gemm.MatMul(dys, true, x, false, W.Grad, T.One, T.One, "TimeAffine");     // dW (O,D) += dysᵀ · xs
        }
        RowOps.AddColumnSums<T>(dys.Span, B.Grad.Span);                                 // db += Σ_{n,t} dys
        return dx;
    }
}
