using System.Buffers.Binary;
using System.Text;
using Unroll.IO;
using Unroll.Tensors;

namespace Unroll.Tests;

public class SafeTensorsTests
{
    private static byte[] Sample()
    {
        var a = Tensor<float>.FromArray([1f, -2.5f, 3f, float.MaxValue, 0f, -0f], 2, 3);
        var b = Tensor<double>.FromArray([Math.PI], 1);
        var c = new Tensor<float>(0, 4);
        return SafeTensorsWriter.Serialize([SafeTensorsWriter.FromTensor("a", a), SafeTensorsWriter.FromTensor("b.w", b), SafeTensorsWriter.FromTensor("empty", c)],
            new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" });
    }

    /// <summary>Builds a file from a raw header string and data bytes (for malformed cases).</summary>
    private static byte[] Raw(string header, int dataLen, ulong? lenOverride = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataLen];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, lenOverride ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        return bytes;
    }

    [Fact]
    public void RoundTripIsExact()
    {
        var bytes = Sample();
        Assert.Equal(0UL, (BinaryPrimitives.ReadUInt64LittleEndian(bytes) + 8) % 8);   // header padded to 8
        var f = SafeTensorsFile.Parse(bytes);
        Assert.Equal(["a", "b.w", "empty"], f.Tensors.Select(t => t.Name));
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal("ünïcode", f.Metadata["note"]);
        var a = f.GetTensor<float>("a", [2, 3]);
        Assert.Equal([1f, -2.5f, 3f, float.MaxValue, 0f, -0f], a.ToArray());
        Assert.True(float.IsNegative(a.Span[5]));
        Assert.Equal(Math.PI, f.GetTensor<double>("b.w").Span[0]);
        Assert.Equal((float)Math.PI, f.GetTensor<float>("b.w").Span[0]);
        Assert.Equal(0, f.GetTensor<float>("empty").Length);
        Assert.Contains("expected (3, 2)", Assert.Throws<SafeTensorsFormatException>(() => f.GetTensor<float>("a", [3, 2])).Message);
        Assert.Contains("no tensor named 'zz'", Assert.Throws<SafeTensorsFormatException>(() => f.GetTensor<float>("zz")).Message);
    }

    [Fact]
    public void ReadsHalfAndBFloat16AndRejectsIntegerAsFloat()
    {
        // 1.5 in F16 = 0x3E00; 1.5 in BF16 = 0x3FC0
        var bytes = Raw("{\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]},\"i\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[4,8]}}", 8);
        int d = bytes.Length - 8;
        bytes[d] = 0x00; bytes[d + 1] = 0x3E; bytes[d + 2] = 0xC0; bytes[d + 3] = 0x3F;
        var f = SafeTensorsFile.Parse(bytes);
        Assert.Equal(1.5f, f.GetTensor<float>("h").Span[0]);
        Assert.Equal(1.5f, f.GetTensor<float>("b").Span[0]);
        Assert.Contains("I32", Assert.Throws<SafeTensorsFormatException>(() => f.GetTensor<float>("i")).Message);
    }

    public static TheoryData<string, byte[]> Malformed => new()
    {
        { "truncated", new byte[5] },
        { "larger than", Raw("{}", 0, 1000) },
        { "exceeds", Raw("{}", 0, 200_000_000) },
        { "too small", Raw("{}", 0, 1) },
        { "start with", Raw(" {}", 0) },
        { "not valid JSON", Raw("{\"a\":", 0) },
        { "not valid JSON", Raw("{]", 0) },
        { "unknown dtype 'F128'", Raw("{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16) },
        { "holds", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8) },
        { "outside", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8) },
        { "overlap", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12) },
        { "gap", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8) },
        { "cover", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8) },
        { "duplicate entry 'a'", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8) },
        { "backwards", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4) },
        { "non-negative integers", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4) },
        { "non-negative integers", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4) },
        { "too large", Raw("{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4) },
        { "lacks data_offsets", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4) },
        { "unknown key 'extra'", Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4) },
        { "is not a string", Raw("{\"__metadata__\":{\"k\":1}}", 0) },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedFilesGiveOneClearTypedError(string expect, byte[] bytes)
    {
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Parse(bytes, "bad.safetensors"));
        Assert.Contains(expect, ex.Message);
        Assert.StartsWith("bad.safetensors: ", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    private const string Alphabet = "{}[]\":,0123456789-.eE \"aF";

    [Fact]
    public void FuzzOnlyTypedErrors()
    {
        var rng = new Random(20261129);
        var seeds = new List<byte[]> { Sample(), Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8) };
        int ok = 0, rejected = 0;
        for (int iter = 0; iter < 6000; iter++)
        {
            byte[] b;
            var src = seeds[rng.Next(seeds.Count)];
            switch (rng.Next(6))
            {
                case 0: b = new byte[rng.Next(0, 64)]; rng.NextBytes(b); break;                       // random bytes
                case 1: b = src[..rng.Next(0, src.Length + 1)]; break;                                // truncation
                case 2:                                                                               // byte flips anywhere
                    b = (byte[])src.Clone();
                    for (int k = rng.Next(1, 4); k > 0; k--) b[rng.Next(b.Length)] = (byte)rng.Next(256);
                    break;
                case 3:                                                                               // flips inside the JSON header
                    b = (byte[])src.Clone();
                    int hl = (int)BinaryPrimitives.ReadUInt64LittleEndian(b);
                    for (int k = rng.Next(1, 3); k > 0; k--) b[8 + rng.Next(hl)] = (byte)Alphabet[rng.Next(Alphabet.Length)];
                    break;
                case 4:                                                                               // header length field
                    b = (byte[])src.Clone();
                    BinaryPrimitives.WriteUInt64LittleEndian(b, rng.Next(3) switch { 0 => (ulong)rng.NextInt64(), 1 => (ulong)rng.Next(0, b.Length + 16), _ => ulong.MaxValue - (ulong)rng.Next(10) });
                    break;
                default:                                                                              // digits changed in offsets/shapes
                    var text = Encoding.UTF8.GetString(src, 8, (int)BinaryPrimitives.ReadUInt64LittleEndian(src));
                    var chars = text.ToCharArray();
                    for (int k = 0; k < chars.Length; k++) if (char.IsDigit(chars[k]) && rng.Next(4) == 0) chars[k] = (char)('0' + rng.Next(10));
                    b = Raw(new string(chars), src.Length - 8 - text.Length + rng.Next(-4, 5) is var n && n >= 0 ? n : 0);
                    break;
            }
            try
            {
                var f = SafeTensorsFile.Parse(b, "fuzz");
                foreach (var t in f.Tensors)
                    try { f.GetTensor<double>(t.Name); } catch (SafeTensorsFormatException) { }
                ok++;
            }
            catch (SafeTensorsFormatException) { rejected++; }
            catch (Exception e) { Assert.Fail($"case {iter}: {e.GetType().Name}: {e.Message}"); }
        }
        Assert.True(rejected > 3000, $"only {rejected} rejected");
        Assert.True(ok > 50, $"only {ok} accepted");
    }

    [Fact]
    public void WriteIsAtomicAndReadChecksFile()
    {
        using var d = new TempDir();
        var path = d.File("w.safetensors");
        SafeTensorsWriter.Write(path, [SafeTensorsWriter.FromTensor("x", Tensor<float>.FromArray([1f, 2f], 2))]);
        Assert.Equal([1f, 2f], SafeTensorsFile.Read(path).GetTensor<float>("x").ToArray());
        Assert.Single(Directory.GetFiles(d.Path));                   // no temporary left behind
        Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Read(d.File("none")));
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Serialize([SafeTensorsWriter.FromTensor("x", new Tensor<float>(1)), SafeTensorsWriter.FromTensor("x", new Tensor<float>(1))]));
    }
}
