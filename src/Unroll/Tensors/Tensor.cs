using System.Runtime.InteropServices;
using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Tensors;

/// <summary>
/// A dense, row-major, contiguous tensor of <typeparamref name="T"/> (float for training, double for gradient checking).
/// A tensor is a window <c>[Offset, Offset + Length)</c> on a backing array; <see cref="Reshape"/> and
/// <see cref="Slice0"/> return views on the same array (no copy). Shapes used by Unroll: (N,D) for one step,
/// (N,T,D) for a sequence (batch-major, as the textbook), (D,H) for weights.
/// </summary>
/// <remarks>
/// Elementwise math goes through <see cref="System.Numerics.Tensors.TensorPrimitives"/> (SIMD).
/// NaN and ±∞ propagate as IEEE-754 says; nothing here clamps values.
/// </remarks>
public sealed class Tensor<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The backing array (shared by views).</summary>
    public readonly T[] Buffer;
    /// <summary>Index of element 0 in <see cref="Buffer"/>.</summary>
    public readonly int Offset;
    /// <summary>Number of elements (product of <see cref="Shape"/>).</summary>
    public readonly int Length;
    private readonly int[] _shape;

    /// <summary>Allocates a zero-filled tensor.</summary>
    public Tensor(params int[] shape)
    {
        _shape = CheckShape(shape);
        Length = Product(_shape);
        (Buffer, Offset) = Allocate(Length);
    }

    /// <summary>Tensors of at least this many bytes get a 64-byte-aligned, pinned buffer (<see cref="Allocate"/>).</summary>
    public const int AlignedMinBytes = 16384;

    /// <summary>Whether large tensors are allocated 64-byte aligned (default; <c>UNROLL_ALIGN=0</c> turns it off, for A/B runs).</summary>
    public static bool AlignLarge { get; } = Environment.GetEnvironmentVariable("UNROLL_ALIGN") != "0";

    /// <summary>
    /// A zeroed buffer for <paramref name="length"/> elements and the offset of element 0 in it. Large tensors
    /// (≥ <see cref="AlignedMinBytes"/>) start on a 64-byte boundary: a .NET array's data is only 8/16-byte aligned, so
    /// otherwise a row of a step (N,T,·) workspace may start anywhere in a cache line, and every 64-byte AVX-512
    /// load of the fused kernels and the GEMM packing then splits across two lines — which alignment a process got
    /// depended on its allocation history (the same adding-problem run took 44–71 ms from process to process).
    /// The array is pinned (pinned-object heap), so the alignment cannot change when the GC compacts.
    /// </summary>
    private static unsafe (T[] buffer, int offset) Allocate(int length)
    {
        int size = Unsafe.SizeOf<T>();
        if (!AlignLarge || (long)length * size < AlignedMinBytes) return (new T[length], 0);
        int extra = 64 / size;
        var arr = GC.AllocateArray<T>(length + extra, pinned: true);
        nint addr = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(arr));
        int offset = (int)(((64 - (addr & 63)) & 63) / size);
        return (arr, offset);
    }

    private Tensor(T[] buffer, int offset, int[] shape, bool _)
    {
        _shape = shape;
        Length = Product(shape);
        if (offset < 0 || offset + Length > buffer.Length)
            throw new ArgumentException($"Tensor: view [{offset}, {offset + Length}) is outside a buffer of {buffer.Length} elements.");
        Buffer = buffer;
        Offset = offset;
    }

    /// <summary>Wraps <paramref name="data"/> (no copy) with the given shape.</summary>
    public static Tensor<T> Wrap(T[] data, params int[] shape)
    {
        var s = CheckShape(shape);
        if (Product(s) != data.Length)
            throw new ArgumentException($"Tensor.Wrap: {data.Length} elements cannot have shape {Format(s)}.");
        return new Tensor<T>(data, 0, s, true);
    }

    /// <summary>A new tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor<T> FromArray(ReadOnlySpan<T> data, params int[] shape)
    {
        var t = new Tensor<T>(shape);
        if (data.Length != t.Length)
            throw new ArgumentException($"Tensor.FromArray: {data.Length} elements cannot have shape {Format(t._shape)}.");
        data.CopyTo(t.Span);
        return t;
    }

    /// <summary>The shape (a copy-free read-only view).</summary>
    public ReadOnlySpan<int> Shape => _shape;
    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;
    /// <summary>Size of dimension <paramref name="i"/> (negative counts from the end).</summary>
    public int Dim(int i) => _shape[i < 0 ? _shape.Length + i : i];

    /// <summary>The elements, row-major.</summary>
    public Span<T> Span
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(Buffer, Offset, Length);
    }

    /// <summary>Element access for rank 2 (no bounds check beyond the array's).</summary>
    public ref T this[int i, int j] => ref Buffer[Offset + i * _shape[1] + j];
    /// <summary>Element access for rank 3.</summary>
    public ref T this[int i, int j, int k] => ref Buffer[Offset + (i * _shape[1] + j) * _shape[2] + k];

    /// <summary>Same elements, new shape (a view; no copy). One dimension may be -1.</summary>
    public Tensor<T> Reshape(params int[] shape)
    {
        var s = (int[])shape.Clone();
        int infer = -1, prod = 1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == -1) { if (infer >= 0) throw new ArgumentException("Tensor.Reshape: at most one -1."); infer = i; }
            else if (s[i] < 0) throw new ArgumentException($"Tensor.Reshape: negative dimension in {Format(s)}.");
            else prod *= s[i];
        }
        if (infer >= 0)
        {
            if (prod == 0 || Length % prod != 0) throw new ArgumentException($"Tensor.Reshape: cannot reshape {Format(_shape)} to {Format(s)}.");
            s[infer] = Length / prod;
        }
        if (Product(s) != Length) throw new ArgumentException($"Tensor.Reshape: cannot reshape {Format(_shape)} to {Format(s)}.");
        return new Tensor<T>(Buffer, Offset, s, true);
    }

    /// <summary>Rows <c>[start, start+count)</c> along dimension 0 (a view; no copy).</summary>
    public Tensor<T> Slice0(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > _shape[0])
            throw new ArgumentException($"Tensor.Slice0: [{start}, {start + count}) out of range for {Format(_shape)}.");
        var s = (int[])_shape.Clone();
        s[0] = count;
        int inner = _shape[0] == 0 ? 0 : Length / _shape[0];
        return new Tensor<T>(Buffer, Offset + start * inner, s, true);
    }

    /// <summary>The elements of row <paramref name="i"/> of dimension 0 as a span (no copy).</summary>
    public Span<T> Row(int i)
    {
        int inner = Length / _shape[0];
        return new Span<T>(Buffer, Offset + i * inner, inner);
    }

    /// <summary>True when shapes are equal.</summary>
    public bool SameShape(Tensor<T> other) => _shape.AsSpan().SequenceEqual(other._shape);
    /// <summary>True when the shape equals <paramref name="shape"/>.</summary>
    public bool HasShape(ReadOnlySpan<int> shape) => _shape.AsSpan().SequenceEqual(shape);

    /// <summary>Sets every element to zero.</summary>
    public void Clear() => Span.Clear();
    /// <summary>Sets every element to <paramref name="v"/>.</summary>
    public void Fill(T v) => Span.Fill(v);
    /// <summary>Copies the elements of <paramref name="src"/> (same length required).</summary>
    public void CopyFrom(Tensor<T> src)
    {
        if (src.Length != Length) throw new ArgumentException($"Tensor.CopyFrom: {Format(src._shape)} into {Format(_shape)}.");
        src.Span.CopyTo(Span);
    }
    /// <summary>A deep copy with the same shape.</summary>
    public Tensor<T> Clone()
    {
        var t = new Tensor<T>(_shape);
        Span.CopyTo(t.Span);
        return t;
    }
    /// <summary>The elements as a new array.</summary>
    public T[] ToArray() => Span.ToArray();

    /// <summary>Euclidean (L2) norm of all elements.</summary>
    public T Norm() => TP.Norm<T>(Span);
    /// <summary>Sum of all elements.</summary>
    public T Sum() => TP.Sum<T>(Span);

    /// <summary>Converts to another element type (a copy), e.g. float → double for gradient checks.</summary>
    public Tensor<TOut> Cast<TOut>() where TOut : unmanaged, IFloatingPointIeee754<TOut>
    {
        var t = new Tensor<TOut>(_shape);
        var src = Span; var dst = t.Span;
        for (int i = 0; i < src.Length; i++) dst[i] = TOut.CreateTruncating(src[i]);
        return t;
    }

    /// <summary>The shape as text, e.g. "(3, 7, 5)".</summary>
    public string ShapeString => Format(_shape);
    public override string ToString() => $"Tensor<{typeof(T).Name}>{ShapeString}";

    /// <summary>Formats a shape, e.g. "(3, 7, 5)".</summary>
    public static string Format(ReadOnlySpan<int> shape) => "(" + string.Join(", ", shape.ToArray()) + ")";

    private static int[] CheckShape(int[] shape)
    {
        foreach (var d in shape)
            if (d < 0) throw new ArgumentException($"Tensor: negative dimension in {Format(shape)}.");
        return (int[])shape.Clone();
    }

    private static int Product(ReadOnlySpan<int> s)
    {
        long p = 1;
        foreach (var d in s) p *= d;
        if (p > Array.MaxLength) throw new ArgumentException($"Tensor: shape {Format(s)} has too many elements.");
        return (int)p;
    }
}

/// <summary>Helpers to keep workspaces allocated once and reused while the shape stays the same.</summary>
public static class Workspace
{
    /// <summary>
    /// Returns <paramref name="t"/> if it already has <paramref name="shape"/>, else allocates a new zeroed tensor
    /// into it. Contents are not cleared when reused: callers overwrite or clear as they need.
    /// </summary>
    public static Tensor<T> Ensure<T>(ref Tensor<T>? t, params ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t is null || !t.HasShape(shape)) t = new Tensor<T>(shape.ToArray());
        return t;
    }
}
