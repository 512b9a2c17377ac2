using Unroll.Bench;

// Benchmark modes: `dotnet run -c Release --project bench/Unroll.Bench -- <mode> [options]`.
// Each mode lives in its own file; add a case here for a new one.
string mode = args.Length > 0 ? args[0] : "";
string[] rest = args.Length > 1 ? args[1..] : [];
switch (mode)
{
    case "kernel":
        return KernelProbe.Run(rest);
    case "gemm":
        return GemmBench.Run(rest);
    case "recurrent":
        return RecurrentBench.Run(rest);
    case "train":
        return TrainBench.Run(rest);
    case "cells":
        return CellBench.Run(rest);
    case "softmax":
        return SoftmaxProbe.Run(rest);
    case "affine":
        return AffineProbe.Run(rest);
    case "flowcost":
        return FlowCostBench.Run(rest);
    case "wake":
        return WakeProbe.Run(rest);
    case "steps":
        return StepProbe.Run(rest);
    case "thin":
        return ThinProbe.Run(rest);
    case "update":
        return UpdateProbe.Run(rest);
    case "hostpeak":
        return HostPeakProbe.Run(rest);
    default:
        Console.Error.WriteLine("usage: Unroll.Bench <mode> [options]\nmodes:\n  gemm     float32 GEMM GFLOP/s per backend (and numpy), see GemmBench.cs\n  kernel   the managed AVX-512 microkernel alone (ceiling of the managed GEMM), see KernelProbe.cs\n  hostpeak the same kernel on every core at once for a fixed wall-clock window: the host's FMA rate now, see HostPeakProbe.cs\n  recurrent [cell N T H reps]  layer Forward/Backward ms, subnormal flush on/off, see RecurrentBench.cs\n  train    Unroll's side of the peer training workloads (C1..C4, ADD-RNN, ADD-LSTM), see TrainBench.cs\n  softmax  the pieces of the fused softmax-CE-gradient kernel, see SoftmaxProbe.cs\n  affine   the three GEMMs of an LM output layer, see AffineProbe.cs\n  flowcost the gradient-flow recorder's cost during training (off vs every K updates), see FlowCostBench.cs\n  update   zero-grad, global norm, clip+SGD, dropout masks: previous vs current form, see UpdateProbe.cs\n  cells    the fused cell kernels vs their reference twins (per kernel, per layer), see CellBench.cs\n  steps    T consecutive recurrent step products (W_h packed once), 2 threads vs 1, see StepProbe.cs\n  thin     the adding problem's [dWx ; db] product: ThinProduct vs the GEMMs, see ThinProbe.cs\n  wake     the worker pool's wake-up cost after the caller worked alone for X µs, see WakeProbe.cs");
        return 2;
}
