using System.CommandLine;
using Unroll.Data;
using Unroll.IO;

namespace Unroll.Cli;

/// <summary>The data of a language-model command: ids of each split and the vocabulary.</summary>
internal sealed record LmData(string Task, Vocabulary Vocab, int[] Train, int[] Valid, int[]? Test)
{
    public string VocabKind => Task == "char" ? "char" : "word";
}

/// <summary>Options and loading shared by train, eval and generate.</summary>
internal static class LmCommon
{
    public static readonly string[] Tasks = ["ptb", "char"];

    public static Option<string?> Task() => new("--task") { Description = "What to model: ptb (word level, --data DIR in Penn Treebank layout) or char (character level, --text FILE)." };
    public static Option<string?> Data() => new("--data") { Description = "Directory with ptb.train.txt, ptb.valid.txt, ptb.test.txt (--task ptb)." };
    public static Option<string?> Text() => new("--text") { Description = "A UTF-8 text file (--task char)." };
    public static Option<double> ValidFraction() => new("--valid-fraction") { Description = "For --task char: the last fraction of the text is the validation split.", DefaultValueFactory = _ => 0.1 };

    /// <summary>Checks the task/data flags agree and loads the corpus (clear errors for bad files).</summary>
    public static LmData Load(string? task, string? data, string? text, double validFraction)
    {
        if (task is null) throw new UsageException("--task is required: ptb (with --data DIR) or char (with --text FILE).");
        switch (task)
        {
            case "ptb":
                if (data is null) throw new UsageException("--task ptb needs --data DIR (a directory with ptb.train.txt, ptb.valid.txt, ptb.test.txt).");
                if (text is not null) throw new UsageException("--text belongs to --task char; --task ptb reads --data DIR.");
                var w = WordCorpus.Load(data);
                return new LmData(task, w.Vocab, w.Train, w.Valid, w.Test);
            case "char":
                if (text is null) throw new UsageException("--task char needs --text FILE.");
                if (data is not null) throw new UsageException("--data belongs to --task ptb; --task char reads --text FILE.");
                var c = CharCorpus.Load(text, validFraction);
                return new LmData(task, c.Vocab, c.Train, c.Valid, null);
            default:
                throw new UsageException($"Unknown --task '{task}' for language models (expected ptb or char).");
        }
    }

    /// <summary>Checks a checkpoint's vocabulary equals the data's.</summary>
    public static void CheckVocab(LoadedCheckpoint ck, LmData d)
    {
        if (ck.Meta.VocabKind != d.VocabKind)
            throw new UsageException($"{ck.Path} is a {ck.Meta.VocabKind}-level model but --task {d.Task} gives {d.VocabKind}-level data.");
        if (!ck.Meta.Vocab.SequenceEqual(d.Vocab.Tokens, StringComparer.Ordinal))
            throw new InvalidDataException($"The data's vocabulary ({d.Vocab.Count} tokens) does not match the checkpoint's ({ck.Meta.Vocab.Length} tokens): {ck.Path} was trained on other data.");
    }

    public static bool Interactive(TextWriter stdout, bool quiet) => !quiet && ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
}
