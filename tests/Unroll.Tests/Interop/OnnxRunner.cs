using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Unroll.Tests.Interop;

/// <summary>Runs an exported language model in ONNX Runtime (CPU).</summary>
internal static class OnnxRunner
{
    /// <summary>logits (N,T,V) flat, h_n and c_n (L,N,H) flat (c_n null unless LSTM). h0/c0 null → omitted (the
    /// model's zero default is used).</summary>
    public static (float[] Logits, float[] Hn, float[]? Cn) Run(byte[] model, long[,] ids, int layers, int hidden,
        float[]? h0 = null, float[]? c0 = null)
    {
        int N = ids.GetLength(0), T = ids.GetLength(1);
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(model, options);
        var flat = new long[N * T];
        for (int n = 0; n < N; n++) for (int t = 0; t < T; t++) flat[n * T + t] = ids[n, t];
        var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(flat, [N, T])) };
        if (h0 is not null) inputs.Add(NamedOnnxValue.CreateFromTensor("h0", new DenseTensor<float>(h0, [layers, N, hidden])));
        if (c0 is not null) inputs.Add(NamedOnnxValue.CreateFromTensor("c0", new DenseTensor<float>(c0, [layers, N, hidden])));
        using var results = session.Run(inputs);
        float[] Get(string name) => results.First(r => r.Name == name).AsTensor<float>().ToArray();
        bool hasC = results.Any(r => r.Name == "c_n");
        return (Get("logits"), Get("h_n"), hasC ? Get("c_n") : null);
    }
}
