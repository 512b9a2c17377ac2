using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// An independent float64 reference for the recurrent cells used by the gradient-flow tests: a plain-loop forward
/// pass and a backward pass built from explicit per-sample Jacobian matrices ∂s_t/∂s_{t−1} of the recurrent state
/// (s = h for RNN/GRU, s = (h, c) for LSTM), multiplied step by step: g_{t−1} = upstream_{t−1} + J_tᵀ g_t.
/// Shapes follow the shared API: Wx (D,kH), Wh (H,kH), b (kH), GRU bhN (H); LSTM gates [i|f|g|o], GRU [r|z|n].
/// </summary>
internal sealed class FlowReference
{
    public required string Cell;       // rnn, rnn-relu, lstm, gru
    public required int N, T, D, H;
    public required double[,] Wx, Wh;
    public required double[] B;
    public double[] BhN = [];
    public required double[,] H0;
    public double[,]? C0;

    // forward results
    public double[,,] Hs = null!, Cs = null!, Gates = null!;
    // backward results
    public double[,,] StepGradH = null!, StepGradC = null!;
    public double[,] DH0 = null!, DC0 = null!;

    private int K => Cell switch { "lstm" => 4, "gru" => 3, _ => 1 };

    public static FlowReference Random(string cell, int n, int t, int d, int h, Rng rng, double whScale = 0.6)
    {
        int k = cell switch { "lstm" => 4, "gru" => 3, _ => 1 };
        var r = new FlowReference
        {
            Cell = cell, N = n, T = t, D = d, H = h,
            Wx = Rand(rng, d, k * h, 0.8), Wh = Rand(rng, h, k * h, whScale),
            B = Enumerable.Range(0, k * h).Select(_ => 0.2 * rng.NextGaussian()).ToArray(),
            BhN = Enumerable.Range(0, h).Select(_ => 0.2 * rng.NextGaussian()).ToArray(),
            H0 = Rand(rng, n, h, 0.5),
            C0 = cell == "lstm" ? Rand(rng, n, h, 0.5) : null,
        };
        return r;
    }

    public static double[,] Rand(Rng rng, int a, int b, double scale)
    {
        var m = new double[a, b];
        for (int i = 0; i < a; i++) for (int j = 0; j < b; j++) m[i, j] = scale * rng.NextGaussian();
        return m;
    }

    private static double Sig(double x) => 1 / (1 + Math.Exp(-x));

    public void Forward(double[,,] xs)
    {
        int k = K;
        Hs = new double[N, T, H]; Cs = new double[N, T, H]; Gates = new double[N, T, k * H];
        for (int n = 0; n < N; n++)
        {
            var hp = Row(H0, n);
            var cp = C0 is null ? new double[H] : Row(C0, n);
            for (int t = 0; t < T; t++)
            {
                var ax = new double[k * H]; var ah = new double[k * H];
                for (int c = 0; c < k * H; c++)
                {
                    for (int i = 0; i < D; i++) ax[c] += xs[n, t, i] * Wx[i, c];
                    for (int j = 0; j < H; j++) ah[c] += hp[j] * Wh[j, c];
                }
                var hn = new double[H];
                for (int m = 0; m < H; m++)
                {
                    switch (Cell)
                    {
                        case "rnn": hn[m] = Math.Tanh(ax[m] + ah[m] + B[m]); break;
                        case "rnn-relu": hn[m] = Math.Max(0, ax[m] + ah[m] + B[m]); break;
                        case "lstm":
                        {
                            double i = Sig(ax[m] + ah[m] + B[m]), f = Sig(ax[H + m] + ah[H + m] + B[H + m]);
                            double g = Math.Tanh(ax[2 * H + m] + ah[2 * H + m] + B[2 * H + m]), o = Sig(ax[3 * H + m] + ah[3 * H + m] + B[3 * H + m]);
                            double c = f * cp[m] + i * g;
                            Cs[n, t, m] = c;
                            hn[m] = o * Math.Tanh(c);
                            Gates[n, t, m] = i; Gates[n, t, H + m] = f; Gates[n, t, 2 * H + m] = g; Gates[n, t, 3 * H + m] = o;
                            break;
                        }
                        default:
                        {
                            double r = Sig(ax[m] + ah[m] + B[m]), z = Sig(ax[H + m] + ah[H + m] + B[H + m]);
                            double nn = Math.Tanh(ax[2 * H + m] + B[2 * H + m] + r * (ah[2 * H + m] + BhN[m]));
                            hn[m] = (1 - z) * nn + z * hp[m];
                            Gates[n, t, m] = r; Gates[n, t, H + m] = z; Gates[n, t, 2 * H + m] = nn;
                            break;
                        }
                    }
                }
                for (int m = 0; m < H; m++) { Hs[n, t, m] = hn[m]; if (Cell == "lstm") cp[m] = Cs[n, t, m]; }
                hp = hn;
            }
        }
    }

    /// <summary>The explicit Jacobian ∂s_t/∂s_{t−1} of sample n at step t (0-based), S×S with S = H or 2H.</summary>
    public double[,] Jacobian(int n, int t)
    {
        int S = Cell == "lstm" ? 2 * H : H;
        var J = new double[S, S];
        double Hp(int j) => t > 0 ? Hs[n, t - 1, j] : H0[n, j];
        double Cp(int j) => t > 0 ? Cs[n, t - 1, j] : C0![n, j];
        for (int m = 0; m < H; m++)
        {
            switch (Cell)
            {
                case "rnn":
                    for (int j = 0; j < H; j++) J[m, j] = (1 - Hs[n, t, m] * Hs[n, t, m]) * Wh[j, m];
                    break;
                case "rnn-relu":
                    for (int j = 0; j < H; j++) J[m, j] = (Hs[n, t, m] > 0 ? 1 : 0) * Wh[j, m];
                    break;
                case "lstm":
                {
                    double i = Gates[n, t, m], f = Gates[n, t, H + m], g = Gates[n, t, 2 * H + m], o = Gates[n, t, 3 * H + m];
                    double tc = Math.Tanh(Cs[n, t, m]);
                    for (int j = 0; j < H; j++)
                    {
                        double dcdh = Cp(m) * f * (1 - f) * Wh[j, H + m] + g * i * (1 - i) * Wh[j, m] + i * (1 - g * g) * Wh[j, 2 * H + m];
                        J[H + m, j] = dcdh;                                                    // ∂c_m/∂h_prev_j
                        J[m, j] = o * (1 - o) * Wh[j, 3 * H + m] * tc + o * (1 - tc * tc) * dcdh; // ∂h_m/∂h_prev_j
                    }
                    J[H + m, H + m] = f;                                                       // ∂c_m/∂c_prev_m
                    J[m, H + m] = o * (1 - tc * tc) * f;                                       // ∂h_m/∂c_prev_m
                    break;
                }
                default:
                {
                    double r = Gates[n, t, m], z = Gates[n, t, H + m], nn = Gates[n, t, 2 * H + m];
                    double hnTerm = BhN[m];
                    for (int j = 0; j < H; j++) hnTerm += Hp(j) * Wh[j, 2 * H + m];
                    for (int j = 0; j < H; j++)
                    {
                        double dan = r * Wh[j, 2 * H + m] + hnTerm * r * (1 - r) * Wh[j, m];
                        J[m, j] = (m == j ? z : 0) + (Hp(m) - nn) * z * (1 - z) * Wh[j, H + m] + (1 - z) * (1 - nn * nn) * dan;
                    }
                    break;
                }
            }
        }
        return J;
    }

    /// <summary>Backward by explicit Jacobian products; fills StepGradH, StepGradC (total, LSTM), DH0, DC0.</summary>
    public void Backward(double[,,] upstream)
    {
        bool lstm = Cell == "lstm";
        int S = lstm ? 2 * H : H;
        StepGradH = new double[N, T, H]; StepGradC = new double[N, T, H];
        DH0 = new double[N, H]; DC0 = new double[N, H];
        for (int n = 0; n < N; n++)
        {
            var g = new double[S];                 // ∂L/∂s_t holding the other state components fixed
            for (int m = 0; m < H; m++) g[m] = upstream[n, T - 1, m];
            for (int t = T - 1; t >= 0; t--)
            {
                for (int m = 0; m < H; m++)
                {
                    StepGradH[n, t, m] = g[m];
                    if (lstm)
                    {
                        double tc = Math.Tanh(Cs[n, t, m]), o = Gates[n, t, 3 * H + m];
                        StepGradC[n, t, m] = g[H + m] + g[m] * o * (1 - tc * tc);   // total: also through h_t = o⊙tanh(c_t)
                    }
                }
                var J = Jacobian(n, t);
                var prev = new double[S];
                for (int j = 0; j < S; j++) for (int i = 0; i < S; i++) prev[j] += J[i, j] * g[i];
                if (t > 0) for (int m = 0; m < H; m++) prev[m] += upstream[n, t - 1, m];
                else for (int m = 0; m < H; m++) { DH0[n, m] = prev[m]; if (lstm) DC0[n, m] = prev[H + m]; }
                g = prev;
            }
        }
    }

    public static double[] Row(double[,] m, int i) => Enumerable.Range(0, m.GetLength(1)).Select(j => m[i, j]).ToArray();

    public static Tensor<double> T3(double[,,] a)
    {
        var t = new Tensor<double>(a.GetLength(0), a.GetLength(1), a.GetLength(2));
        for (int i = 0; i < a.GetLength(0); i++) for (int j = 0; j < a.GetLength(1); j++) for (int k = 0; k < a.GetLength(2); k++) t[i, j, k] = a[i, j, k];
        return t;
    }

    public static Tensor<double> T2(double[,] a)
    {
        var t = new Tensor<double>(a.GetLength(0), a.GetLength(1));
        for (int i = 0; i < a.GetLength(0); i++) for (int j = 0; j < a.GetLength(1); j++) t[i, j] = a[i, j];
        return t;
    }

    /// <summary>‖∂L/∂h_t‖ over the batch per time step, from the reference.</summary>
    public double[] StepNorms()
    {
        var r = new double[T];
        for (int t = 0; t < T; t++) { double s = 0; for (int n = 0; n < N; n++) for (int m = 0; m < H; m++) s += StepGradH[n, t, m] * StepGradH[n, t, m]; r[t] = Math.Sqrt(s); }
        return r;
    }
}
