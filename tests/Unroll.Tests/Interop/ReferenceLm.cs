using Unroll.IO;

namespace Unroll.Tests.Interop;

/// <summary>
/// A plain float64 forward of an <see cref="LmWeights{T}"/> language model written straight from the equations in
/// the brief (Unroll convention: a = x·Wx + h·Wh + B, gate order i,f,g,o / r,z,n, GRU in PyTorch's form) — an
/// oracle independent of both the layer classes and ONNX Runtime's gate orders.
/// </summary>
internal static class ReferenceLm
{
    /// <summary>logits (N·T·V, row-major (N,T,V)), h_n and c_n (L·N·H, row-major (L,N,H)).</summary>
    public static (double[] Logits, double[] Hn, double[] Cn) Forward(LmWeights<double> w, long[,] ids, double[]? h0 = null, double[]? c0 = null)
    {
        var c = w.Config;
        int N = ids.GetLength(0), T = ids.GetLength(1), H = c.HiddenSize, V = c.VocabSize, L = c.Layers, k = c.Gates;
        var hn = new double[L * N * H];
        var cn = new double[L * N * H];
        // x[n][t] = the current layer's input row
        var x = new double[N, T][];
        for (int n = 0; n < N; n++)
            for (int t = 0; t < T; t++) x[n, t] = w.Embedding.Row((int)ids[n, t]).ToArray();
        for (int l = 0; l < L; l++)
        {
            var lw = w.Layers[l];
            int D = lw.Wx.Dim(0);
            for (int n = 0; n < N; n++)
            {
                var h = new double[H];
                var cc = new double[H];
                for (int j = 0; j < H; j++)
                {
                    h[j] = h0 is null ? 0 : h0[(l * N + n) * H + j];
                    cc[j] = c0 is null ? 0 : c0[(l * N + n) * H + j];
                }
                for (int t = 0; t < T; t++)
                {
                    var xi = x[n, t];
                    var ax = new double[k * H];   // x·Wx + B
                    var ah = new double[k * H];   // h·Wh
                    for (int col = 0; col < k * H; col++)
                    {
                        double s = lw.B.Span[col];
                        for (int d = 0; d < D; d++) s += xi[d] * lw.Wx[d, col];
                        ax[col] = s;
                        double r = 0;
                        for (int d = 0; d < H; d++) r += h[d] * lw.Wh[d, col];
                        ah[col] = r;
                    }
                    var hNew = new double[H];
                    for (int j = 0; j < H; j++)
                    {
                        switch (c.Cell)
                        {
                            case "lstm":
                                double i = Sig(ax[j] + ah[j]), f = Sig(ax[H + j] + ah[H + j]);
                                double g = Math.Tanh(ax[2 * H + j] + ah[2 * H + j]), o = Sig(ax[3 * H + j] + ah[3 * H + j]);
                                cc[j] = f * cc[j] + i * g;
                                hNew[j] = o * Math.Tanh(cc[j]);
                                break;
                            case "gru":
                                double rr = Sig(ax[j] + ah[j]), z = Sig(ax[H + j] + ah[H + j]);
                                double nn = Math.Tanh(ax[2 * H + j] + rr * (ah[2 * H + j] + lw.BhN!.Span[j]));
                                hNew[j] = (1 - z) * nn + z * h[j];
                                break;
                            case "rnn_relu":
                                hNew[j] = Math.Max(0, ax[j] + ah[j]);
                                break;
                            default:
                                hNew[j] = Math.Tanh(ax[j] + ah[j]);
                                break;
                        }
                    }
                    h = hNew;
                    x[n, t] = (double[])h.Clone();
                }
                for (int j = 0; j < H; j++)
                {
                    hn[(l * N + n) * H + j] = h[j];
                    cn[(l * N + n) * H + j] = cc[j];
                }
            }
        }
        var logits = new double[N * T * V];
        for (int n = 0; n < N; n++)
            for (int t = 0; t < T; t++)
                for (int v = 0; v < V; v++)
                {
                    double s = w.DecoderB.Span[v];
                    for (int j = 0; j < H; j++) s += x[n, t][j] * w.DecoderW[j, v];
                    logits[(n * T + t) * V + v] = s;
                }
        return (logits, hn, cn);
    }

    private static double Sig(double a) => 1 / (1 + Math.Exp(-a));
}
