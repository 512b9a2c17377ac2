using System.Numerics;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;
using Unroll.Tensors;

namespace Unroll.Init;

/// <summary>Weight initialisation schemes (see <see cref="Initializers"/>).</summary>
public enum WeightInit
{
    /// <summary>Textbook Xavier: N(0,1)/√fan_in (fan_in = rows), times the scale.</summary>
    Xavier,
    /// <summary>Glorot uniform: U(−a, a), a = scale·√(6/(fan_in + fan_out)).</summary>
    GlorotUniform,
    /// <summary>N(0, scale²).</summary>
    Gaussian,
    /// <summary>(Semi-)orthogonal from the QR of a Gaussian matrix, times the scale.</summary>
    Orthogonal,
    /// <summary>scale·I (square only; IRNN).</summary>
    Identity,
}

/// <summary>
/// Weight initialisers for matrices W (rows × cols) in the layer convention a = x·W (rows = fan_in, cols = fan_out).
/// All randomness comes from the injected <see cref="Rng"/>; elements are drawn in row-major order, so the same
/// seed gives the same weights on every machine.
/// </summary>
public static class Initializers
{
    /// <summary>Textbook Xavier: W ~ N(0,1)·gain/√fan_in with fan_in = rows (e.g. <c>randn(D, 4H) / sqrt(D)</c>).</summary>
    public static void Xavier<T>(Tensor<T> w, Rng rng, double gain = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, _) = Dims(w, "Xavier");
        Gaussian(w, rng, gain / Math.Sqrt(rows));
    }

    /// <summary>Glorot/Xavier uniform: W ~ U(−a, a) with a = gain·√(6/(rows + cols)).</summary>
    public static void GlorotUniform<T>(Tensor<T> w, Rng rng, double gain = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, cols) = Dims(w, "GlorotUniform");
        double a = gain * Math.Sqrt(6.0 / (rows + cols));
        Uniform(w, rng, -a, a);
    }

    /// <summary>W ~ N(0, scale²), elementwise (any shape).</summary>
    public static void Gaussian<T>(Tensor<T> w, Rng rng, double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(rng);
        var s = w.Span;
        for (int i = 0; i < s.Length; i++) s[i] = T.CreateChecked(rng.NextGaussian() * scale);
    }

    /// <summary>W ~ U(low, high), elementwise (any shape).</summary>
    public static void Uniform<T>(Tensor<T> w, Rng rng, double low, double high) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(rng);
        var s = w.Span;
        for (int i = 0; i < s.Length; i++) s[i] = T.CreateChecked(low + (high - low) * rng.NextDouble());
    }

    /// <summary>
    /// gain·Q with Q (rows × cols) having orthonormal columns (rows ≥ cols, QᵀQ = I) or orthonormal rows
    /// (rows &lt; cols, QQᵀ = I): the thin QR of a Gaussian matrix by MathNet.Numerics, with Q's columns multiplied by
    /// sign(diag R) so that Q is uniformly (Haar) distributed.
    /// </summary>
    public static void Orthogonal<T>(Tensor<T> w, Rng rng, double gain = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(rng);
        var (rows, cols) = Dims(w, "Orthogonal");
        bool tall = rows >= cols;
        int m = Math.Max(rows, cols), k = Math.Min(rows, cols);
        // Draw the m×k Gaussian row-major (deterministic order), hand MathNet its column-major storage.
        var storage = new double[m * k];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < k; j++) storage[j * m + i] = rng.NextGaussian();
        var a = Matrix<double>.Build.Dense(m, k, storage);
        var qr = a.QR(QRMethod.Thin);
        var q = qr.Q; var r = qr.R;
        for (int j = 0; j < k; j++)
        {
            double sign = r[j, j] < 0 ? -1.0 : 1.0;
            for (int i = 0; i < m; i++)
            {
                double v = gain * sign * q[i, j];
                if (tall) w[i, j] = T.CreateChecked(v); else w[j, i] = T.CreateChecked(v);
            }
        }
    }

    /// <summary>W = scale·I (square matrices only) — the IRNN initialisation of W_h.</summary>
    public static void Identity<T>(Tensor<T> w, double scale = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, cols) = Dims(w, "Identity");
        if (rows != cols) throw new ArgumentException($"Initializers.Identity: needs a square matrix, got {w.ShapeString}.");
        w.Clear();
        for (int i = 0; i < rows; i++) w[i, i] = T.CreateChecked(scale);
    }

    /// <summary>Fills <paramref name="w"/> with scheme <paramref name="kind"/> (scale = gain, or the std for Gaussian).</summary>
    public static void Fill<T>(WeightInit kind, Tensor<T> w, Rng rng, double scale = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (kind)
        {
            case WeightInit.Xavier: Xavier(w, rng, scale); break;
            case WeightInit.GlorotUniform: GlorotUniform(w, rng, scale); break;
            case WeightInit.Gaussian: Gaussian(w, rng, scale); break;
            case WeightInit.Orthogonal: Orthogonal(w, rng, scale); break;
            case WeightInit.Identity: Identity(w, scale); break;
            default: throw new ArgumentException($"Initializers.Fill: unknown scheme {kind}.");
        }
    }

    /// <summary>
    /// Fills a gate-concatenated matrix (rows × blocks·cols) block by block: each (rows × cols) gate block gets its
    /// own <paramref name="kind"/> matrix (so e.g. each gate's recurrent block is orthogonal, or the identity).
    /// Blocks are drawn left to right.
    /// </summary>
    public static void FillBlocks<T>(WeightInit kind, Tensor<T> w, int blocks, Rng rng, double scale = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, total) = Dims(w, "FillBlocks");
        if (blocks <= 0 || total % blocks != 0)
            throw new ArgumentException($"Initializers.FillBlocks: {w.ShapeString} cannot be split into {blocks} column blocks.");
        if (blocks == 1) { Fill(kind, w, rng, scale); return; }
        int cols = total / blocks;
        var block = new Tensor<T>(rows, cols);
        for (int b = 0; b < blocks; b++)
        {
            Fill(kind, block, rng, scale);
            for (int i = 0; i < rows; i++) block.Row(i).CopyTo(w.Row(i).Slice(b * cols, cols));
        }
    }

    /// <summary>Sets the LSTM forget-gate bias b[H, 2H) (gate order [i | f | g | o]) to <paramref name="value"/>.</summary>
    public static void LstmForgetBias<T>(Tensor<T> b, int hiddenSize, double value) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (b.Rank != 1 || b.Length != 4 * hiddenSize)
            throw new ArgumentException($"Initializers.LstmForgetBias: b has shape {b.ShapeString} but must be ({4 * hiddenSize}).");
        b.Span.Slice(hiddenSize, hiddenSize).Fill(T.CreateChecked(value));
    }

    private static (int rows, int cols) Dims<T>(Tensor<T> w, string who) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(w);
        if (w.Rank != 2 || w.Length == 0)
            throw new ArgumentException($"Initializers.{who}: needs a non-empty matrix, got {w.ShapeString}.");
        return (w.Dim(0), w.Dim(1));
    }
}
