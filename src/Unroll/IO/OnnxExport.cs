using System.Numerics;
using Google.Protobuf;
using Onnx;
using Unroll.Tensors;

namespace Unroll.IO;

/// <summary>
/// Writes a language model Embedding → (RNN|LSTM|GRU)×L → Linear as an ONNX model (opset <see cref="Opset"/>)
/// with standard operators only: Gather, Transpose, Slice/Shape/Concat/Expand, LSTM/GRU/RNN, Squeeze, MatMul, Add.
/// The protobuf is built with OnnxSharp's generated ONNX classes (Google.Protobuf).
/// <para>Graph inputs: <c>input_ids</c> int64 (batch, seq); <c>h0</c> float (L, batch, H) and, for LSTM,
/// <c>c0</c> float (L, batch, H) — both optional: they are initializers too (zeros of shape (L, 1, H), expanded
/// to the batch), so a runtime that is not given them starts from zero state.</para>
/// <para>Graph outputs: <c>logits</c> float (batch, seq, V), <c>h_n</c> (L, batch, H) and, for LSTM, <c>c_n</c>
/// — feed h_n/c_n back as h0/c0 to run step by step.</para>
/// <para>Gate orders differ: Unroll and PyTorch use LSTM [i,f,g,o] and GRU [r,z,n]; ONNX uses LSTM [i,o,f,c] and
/// GRU [z,r,h]. The GRU is exported with <c>linear_before_reset=1</c>, ONNX's name for PyTorch's form
/// n = tanh(x·Wx_n + b_n + r ⊙ (h·Wh_n + bh_n)). ONNX W is [1, kH, D] (= Wxᵀ permuted), R [1, kH, H],
/// B [1, 2kH] = [Wb | Rb] with Wb = B permuted and Rb = 0 except the GRU's h block, which holds BhN.</para>
/// </summary>
public static class OnnxExport
{
    /// <summary>The ONNX operator set version written.</summary>
    public const int Opset = 17;
    /// <summary>The IR version that goes with <see cref="Opset"/>.</summary>
    public const int IrVersion = 8;

    private const int Float = (int)TensorProto.Types.DataType.Float;
    private const int Int64 = (int)TensorProto.Types.DataType.Int64;

    /// <summary>For ONNX gate block q, the Unroll gate block it comes from.</summary>
    public static int[] GatePermutation(string cell) => cell switch
    {
        "lstm" => [0, 3, 1, 2],   // ONNX i,o,f,c ← Unroll i,f,g,o
        "gru" => [1, 0, 2],       // ONNX z,r,h ← Unroll r,z,n
        _ => [0],
    };

    /// <summary>Writes the model to <paramref name="path"/> atomically.</summary>
    public static void Write<T>(LmWeights<T> w, string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = Build(w);
        AtomicFile.Write(path, s => model.WriteTo(s));
    }

    /// <summary>The serialized model.</summary>
    public static byte[] ToBytes<T>(LmWeights<T> w) where T : unmanaged, IFloatingPointIeee754<T> => Build(w).ToByteArray();

    /// <summary>Builds the ONNX model for <paramref name="w"/>.</summary>
    public static ModelProto Build<T>(LmWeights<T> w) where T : unmanaged, IFloatingPointIeee754<T>
    {
        w.Validate();
        var c = w.Config;
        int H = c.HiddenSize, L = c.Layers, V = c.VocabSize, k = c.Gates;
        bool lstm = c.Cell == "lstm";
        var g = new GraphProto { Name = $"unroll_{c.Cell}_lm" };

        // ---- inputs and outputs
        g.Input.Add(ValueInfo("input_ids", Int64, Dim("batch"), Dim("seq")));
        g.Input.Add(ValueInfo("h0", Float, Dim(L), Dim("state_batch"), Dim(H)));
        if (lstm) g.Input.Add(ValueInfo("c0", Float, Dim(L), Dim("state_batch"), Dim(H)));
        g.Output.Add(ValueInfo("logits", Float, Dim("batch"), Dim("seq"), Dim(V)));
        g.Output.Add(ValueInfo("h_n", Float, Dim(L), Dim("batch"), Dim(H)));
        if (lstm) g.Output.Add(ValueInfo("c_n", Float, Dim(L), Dim("batch"), Dim(H)));

        // ---- optional state: default zeros (L,1,H), expanded to (L, batch, H)
        g.Initializer.Add(FloatTensor("h0", new float[L * H], L, 1, H));
        if (lstm) g.Initializer.Add(FloatTensor("c0", new float[L * H], L, 1, H));
        g.Initializer.Add(Int64Tensor("const_0", [0], 1));
        g.Initializer.Add(Int64Tensor("const_1", [1], 1));
        g.Initializer.Add(Int64Tensor("const_L", [L], 1));
        g.Initializer.Add(Int64Tensor("const_H", [H], 1));
        g.Node.Add(Node("Shape", ["input_ids"], ["ids_shape"]));
        g.Node.Add(Node("Slice", ["ids_shape", "const_0", "const_1", "const_0"], ["batch_1"]));            // [batch]
        g.Node.Add(Node("Concat", ["const_L", "batch_1", "const_H"], ["state_shape"], Attr("axis", 0)));    // [L, batch, H]
        g.Node.Add(Node("Expand", ["h0", "state_shape"], ["h0_full"]));
        if (lstm) g.Node.Add(Node("Expand", ["c0", "state_shape"], ["c0_full"]));

        // ---- embedding: (batch, seq) → (batch, seq, E) → (seq, batch, E) (ONNX recurrent ops are time-major)
        g.Initializer.Add(FloatTensor("encoder_weight", ToFloat(w.Embedding), V, c.EmbedSize));
        g.Node.Add(Node("Gather", ["encoder_weight", "input_ids"], ["emb"], Attr("axis", 0)));
        g.Node.Add(Node("Transpose", ["emb"], ["x_0"], Attr("perm", [1, 0, 2])));

        var perm = GatePermutation(c.Cell);
        var hOuts = new List<string>();
        var cOuts = new List<string>();
        for (int l = 0; l < L; l++)
        {
            var lw = w.Layers[l];
            int D = lw.Wx.Dim(0);
            var wx = ToFloat(lw.Wx); var wh = ToFloat(lw.Wh); var b = ToFloat(lw.B);
            var W = new float[k * H * D];
            var R = new float[k * H * H];
            var B = new float[2 * k * H];
            for (int q = 0; q < k; q++)
            {
                int src = perm[q] * H;
                for (int j = 0; j < H; j++)
                {
                    int row = q * H + j;
                    for (int d = 0; d < D; d++) W[row * D + d] = wx[d * k * H + src + j];   // W[q·H+j, d] = Wx[d, perm(q)·H+j]
                    for (int d = 0; d < H; d++) R[row * H + d] = wh[d * k * H + src + j];   // R[q·H+j, d] = Wh[d, perm(q)·H+j]
                    B[row] = b[src + j];                                                     // Wb = B permuted
                }
            }
            if (c.Cell == "gru") ToFloat(lw.BhN!).CopyTo(B, k * H + 2 * H);                  // Rb_h = BhN (inside r ⊙ (…))
            g.Initializer.Add(FloatTensor($"W_{l}", W, 1, k * H, D));
            g.Initializer.Add(FloatTensor($"R_{l}", R, 1, k * H, H));
            g.Initializer.Add(FloatTensor($"B_{l}", B, 1, 2 * k * H));
            g.Initializer.Add(Int64Tensor($"const_l{l}", [l], 1));
            g.Initializer.Add(Int64Tensor($"const_l{l + 1}", [l + 1], 1));
            g.Node.Add(Node("Slice", ["h0_full", $"const_l{l}", $"const_l{l + 1}", "const_0"], [$"h0_{l}"]));  // (1, batch, H)
            if (lstm) g.Node.Add(Node("Slice", ["c0_full", $"const_l{l}", $"const_l{l + 1}", "const_0"], [$"c0_{l}"]));

            var ins = new List<string> { $"x_{l}", $"W_{l}", $"R_{l}", $"B_{l}", "", $"h0_{l}" };
            var outs = new List<string> { $"y_{l}", $"h_n_{l}" };
            if (lstm) { ins.Add($"c0_{l}"); outs.Add($"c_n_{l}"); }
            var node = Node(c.Cell switch { "lstm" => "LSTM", "gru" => "GRU", _ => "RNN" }, ins, outs, Attr("hidden_size", H));
            if (c.Cell == "gru") node.Attribute.Add(Attr("linear_before_reset", 1));
            if (c.Cell is "rnn_tanh" or "rnn_relu") node.Attribute.Add(AttrStrings("activations", c.Cell == "rnn_relu" ? "Relu" : "Tanh"));
            g.Node.Add(node);
            // Y (seq, 1, batch, H) → (seq, batch, H) for the next layer
            g.Node.Add(Node("Squeeze", [$"y_{l}", "const_1"], [$"x_{l + 1}"]));
            hOuts.Add($"h_n_{l}");
            if (lstm) cOuts.Add($"c_n_{l}");
        }
        g.Node.Add(Node("Concat", hOuts, ["h_n"], Attr("axis", 0)));
        if (lstm) g.Node.Add(Node("Concat", cOuts, ["c_n"], Attr("axis", 0)));

        // ---- decoder: (seq, batch, H) → (batch, seq, H) · DecoderW (H, V) + b
        g.Initializer.Add(FloatTensor("decoder_weight_t", ToFloat(w.DecoderW), H, V));
        g.Initializer.Add(FloatTensor("decoder_bias", ToFloat(w.DecoderB), V));
        g.Node.Add(Node("Transpose", [$"x_{L}"], ["hs"], Attr("perm", [1, 0, 2])));
        g.Node.Add(Node("MatMul", ["hs", "decoder_weight_t"], ["hs_w"]));
        g.Node.Add(Node("Add", ["hs_w", "decoder_bias"], ["logits"]));

        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "Unroll",
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0",
            DocString = $"Unroll {c.Layers}-layer {c.Cell} language model (V={V}, E={c.EmbedSize}, H={H}). Inputs input_ids (batch, seq) int64, optional h0{(lstm ? "/c0" : "")} (L, batch, H); outputs logits (batch, seq, V), h_n{(lstm ? "/c_n" : "")}.",
            Graph = g,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "unroll_config", Value = c.ToJson().Trim() });
        return model;
    }

    private static float[] ToFloat<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t is Tensor<float> f) return f.ToArray();
        return t.Cast<float>().ToArray();
    }

    private static TensorShapeProto.Types.Dimension Dim(long v) => new() { DimValue = v };
    private static TensorShapeProto.Types.Dimension Dim(string p) => new() { DimParam = p };

    private static ValueInfoProto ValueInfo(string name, int elemType, params TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = shape } },
        };
    }

    private static TensorProto FloatTensor(string name, float[] data, params long[] dims)
    {
        var bytes = new byte[data.Length * 4];
        for (int i = 0; i < data.Length; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), data[i]);
        var t = new TensorProto { Name = name, DataType = Float, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    private static TensorProto Int64Tensor(string name, long[] data, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = Int64 };
        t.Int64Data.AddRange(data);
        t.Dims.AddRange(dims);
        return t;
    }

    private static NodeProto Node(string op, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto[] attrs)
    {
        var n = new NodeProto { OpType = op, Name = $"{op}_{string.Join("_", outputs)}" };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attrs);
        return n;
    }

    private static AttributeProto Attr(string name, long v) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    private static AttributeProto Attr(string name, long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    private static AttributeProto AttrStrings(string name, params string[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Strings };
        foreach (var s in v) a.Strings.Add(ByteString.CopyFromUtf8(s));
        return a;
    }
}
