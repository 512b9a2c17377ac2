using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>Large tensors start on a 64-byte boundary (one AVX-512 vector, one cache line), zeroed, with correct views.</summary>
public class TensorAlignmentTests
{
    private static unsafe long Address<T>(Tensor<T> t) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        (long)Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(t.Buffer), t.Offset));

    [Fact]
    public void Large_tensors_are_64_byte_aligned_zeroed_and_sized()
    {
        if (!Tensor<float>.AlignLarge) return;   // UNROLL_ALIGN=0 in the environment: nothing to check
        for (int i = 0; i < 20; i++)            // several allocations: the heap hands out different alignments
        {
            var f = new Tensor<float>(64, 200 + i, 3);
            Assert.Equal(0, Address(f) % 64);
            Assert.Equal(64 * (200 + i) * 3, f.Span.Length);
            Assert.True(f.Span.IndexOfAnyExcept(0f) < 0, "a new tensor must be zeroed");
            var d = new Tensor<double>(3000 + i);
            Assert.Equal(0, Address(d) % 64);
        }
    }

    [Fact]
    public void Aligned_tensor_views_and_rows_address_the_right_elements()
    {
        var t = new Tensor<float>(128, 64);     // 32 KiB: aligned path
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = i;
        Assert.Equal(65f * 64, t.Row(65)[0]);
        Assert.Equal(127f * 64 + 63, t.Reshape(64, 128).Row(63)[127]);
        var small = new Tensor<float>(3, 4);      // below the threshold: plain array
        Assert.Equal(0, small.Offset);
    }
}
