using Unroll.IO;
using Unroll.Tensors;

namespace Unroll.Tests.Interop;

/// <summary>Hostile and mismatched weight files through the whole import path (reader + layout mapping).</summary>
public class InteropBadInputTests
{
    private static byte[] ValidExport(string cell = "gru", int layers = 2) =>
        PyTorchLayout.ToSafeTensors(LmWeights<float>.Random(new LmConfig(cell, 7, 3, 4, layers, false), new Rng(3)));

    private static LmWeights<float> Import(byte[] bytes, LmConfig? config = null) =>
        PyTorchLayout.FromSafeTensors<float>(SafeTensorsFile.Parse(bytes, "test.safetensors"), config);

    [Fact]
    public void TruncatedFileIsAFormatError()
    {
        var b = ValidExport();
        Assert.Throws<SafeTensorsFormatException>(() => Import(b[..(b.Length - 5)]));
        Assert.Throws<SafeTensorsFormatException>(() => Import(b[..6]));
    }

    [Fact]
    public void NonFloatExtraTensorIsReportedByName()
    {
        var w = LmWeights<float>.Random(new LmConfig("lstm", 7, 3, 4, 1, false), new Rng(3));
        var entries = PyTorchLayout.Export(w).Select(kv => SafeTensorsWriter.FromTensor(kv.Key, kv.Value)).ToList();
        entries.Add(new SafeTensorsWriter.Entry("num_batches_tracked", "I64", [], new byte[8]));
        var bytes = SafeTensorsWriter.Serialize(entries);
        var e = Assert.Throws<InteropFormatException>(() => Import(bytes, w.Config));
        Assert.Contains("unexpected tensor num_batches_tracked", e.Message);
    }

    [Fact]
    public void FileForAnotherModelIsRejected()
    {
        var bytes = ValidExport("gru", 2);
        var e = Assert.Throws<InteropFormatException>(() => Import(bytes, new LmConfig("gru", 7, 3, 4, 1, false)));
        Assert.Contains("unexpected tensors rnn.bias_hh_l1, rnn.bias_ih_l1, rnn.weight_hh_l1, rnn.weight_ih_l1", e.Message);
        e = Assert.Throws<InteropFormatException>(() => Import(bytes, new LmConfig("gru", 7, 3, 4, 3, false)));
        Assert.Contains("missing tensors rnn.bias_hh_l2", e.Message);
        e = Assert.Throws<InteropFormatException>(() => Import(bytes, new LmConfig("gru", 8, 3, 4, 2, false)));
        Assert.Contains("decoder.bias has shape (7), expected (8)", e.Message);
    }

    [Fact]
    public void HalfPrecisionFilesImport()
    {
        var w = LmWeights<float>.Random(new LmConfig("lstm", 7, 3, 4, 1, false), new Rng(8));
        var entries = PyTorchLayout.Export(w).Select(kv =>
        {
            var h = new Tensor<Half>(kv.Value.Shape.ToArray());
            for (int i = 0; i < h.Length; i++) h.Span[i] = (Half)kv.Value.Span[i];
            return SafeTensorsWriter.FromTensor(kv.Key, h);
        }).ToList();
        var back = Import(SafeTensorsWriter.Serialize(entries), w.Config);
        for (int i = 0; i < w.Embedding.Length; i++) Assert.Equal((float)(Half)w.Embedding.Span[i], back.Embedding.Span[i]);
    }

    /// <summary>
    /// Seeded fuzz: random byte flips, truncations, splices and header edits of valid exports; the import either
    /// succeeds (a harmless change) or throws one of the typed format errors — never anything else.
    /// </summary>
    [Fact]
    public void FuzzedFilesGiveOnlyTypedErrors()
    {
        var rng = new Rng(20261129);
        var seeds = new[] { ValidExport("gru", 2), ValidExport("lstm", 1), ValidExport("rnn_tanh", 2) };
        int ok = 0, typed = 0;
        for (int iter = 0; iter < 3000; iter++)
        {
            var b = (byte[])seeds[rng.NextInt(seeds.Length)].Clone();
            int headerEnd = 8 + (int)BitConverter.ToUInt64(b, 0);
            switch (rng.NextInt(5))
            {
                case 0:   // flip bytes anywhere
                    for (int k = 1 + rng.NextInt(4); k > 0; k--) b[rng.NextInt(b.Length)] ^= (byte)(1 + rng.NextInt(255));
                    break;
                case 1:   // flip bytes in the header JSON
                    for (int k = 1 + rng.NextInt(3); k > 0; k--) b[8 + rng.NextInt(headerEnd - 8)] = (byte)"{}[]\",:0123456789-e. aFIU"[rng.NextInt(25)];
                    break;
                case 2:   // truncate
                    b = b[..rng.NextInt(b.Length)];
                    break;
                case 3:   // splice garbage in
                    {
                        int at = rng.NextInt(b.Length), n = 1 + rng.NextInt(16);
                        var g = new byte[n];
                        for (int i = 0; i < n; i++) g[i] = (byte)rng.NextInt(256);
                        b = [.. b[..at], .. g, .. b[at..]];
                        break;
                    }
                default:  // rewrite a digit in the header (shapes, offsets)
                    {
                        var digits = Enumerable.Range(8, headerEnd - 8).Where(i => char.IsAsciiDigit((char)b[i])).ToList();
                        if (digits.Count > 0) b[digits[rng.NextInt(digits.Count)]] = (byte)('0' + rng.NextInt(10));
                        break;
                    }
            }
            LmConfig? config = rng.NextInt(2) == 0 ? null : new LmConfig("gru", 7, 3, 4, 2, false);
            try
            {
                Import(b, config);
                ok++;
            }
            catch (Exception e) when (e is SafeTensorsFormatException or InteropFormatException)
            {
                typed++;
            }
        }
        Assert.Equal(3000, ok + typed);
        Assert.True(typed > 1500, $"only {typed} of 3000 mutations were rejected: the fuzzer is not reaching the checks");
    }
}
