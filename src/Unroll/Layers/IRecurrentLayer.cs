using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Layers;

/// <summary>The recurrent cell of a time layer.</summary>
public enum CellType
{
    /// <summary>Elman RNN, h' = tanh(x·Wx + h·Wh + b).</summary>
    Rnn,
    /// <summary>Elman RNN with ReLU, h' = max(0, x·Wx + h·Wh + b) (IRNN with identity init).</summary>
    RnnRelu,
    /// <summary>LSTM, gate columns [i | f | g | o] (PyTorch's order).</summary>
    Lstm,
    /// <summary>GRU in PyTorch's form, gate columns [r | z | n], reset applied as r ⊙ (h·Wh_n + bh_n).</summary>
    Gru,
}

/// <summary>
/// A recurrent layer unrolled over time: xs (N,T,D) → hs (N,T,H), batch-major as in the textbook.
/// The step pre-activation is <c>a = x·Wx + h_prev·Wh + b</c> with Wx (D×kH), Wh (H×kH), b (kH), k = 1 (RNN),
/// 4 (LSTM) or 3 (GRU).
/// </summary>
/// <remarks>
/// <para><b>State.</b> The initial state of a <see cref="Forward"/> is, in this order of precedence: the state given to
/// <see cref="SetState"/> since the last Forward; else, when <see cref="Stateful"/>, the last state of the previous
/// Forward (truncated BPTT: the gradient is not propagated into the previous call); else zeros.</para>
/// <para><b>Per-step values for instruments</b> (<see cref="Hs"/>, <see cref="H0"/>, <see cref="StepGradH"/>,
/// <see cref="StepGradA"/>) are the layer's own workspaces, returned without copying; they stay valid until the
/// next Forward/Backward (and are reallocated when N or T changes). Accessing them before the pass that fills them
/// throws <see cref="InvalidOperationException"/>.</para>
/// <para>The caller must not modify xs between Forward and Backward (it is kept by reference for ∂L/∂Wx).</para>
/// </remarks>
public interface IRecurrentLayer<T> : IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Name used in parameter names and error messages, e.g. "lstm0".</summary>
    string Name { get; }
    /// <summary>The cell.</summary>
    CellType Cell { get; }
    /// <summary>D.</summary>
    int InputSize { get; }
    /// <summary>H.</summary>
    int HiddenSize { get; }
    /// <summary>Carry the last state into the next Forward (truncated BPTT).</summary>
    bool Stateful { get; set; }

    /// <summary>
    /// Backward sets per-step gradients below this magnitude to zero (default √MinNormal ≈ 1.1e-19 in float, so no
    /// subnormal arithmetic slows long backward passes; 0 = exact IEEE). See <see cref="Kernels.Subnormals"/>.
    /// </summary>
    T GradFlushThreshold { get; set; }

    /// <summary>
    /// Whether <see cref="Backward"/> computes dxs = ∂L/∂xs (default true). Set false for a first layer whose input is
    /// data that needs no gradient (a task's input sequence): Backward then skips the dxs product (N·T·D·kH
    /// multiply-adds, reading all of ∂L/∂A once more) and returns an all-zero dxs; the parameter gradients are the same.
    /// </summary>
    bool ComputesInputGradient { get; set; }

    /// <summary>Input weights (D×kH).</summary>
    Parameter<T> Wx { get; }
    /// <summary>Recurrent weights (H×kH).</summary>
    Parameter<T> Wh { get; }
    /// <summary>Bias (kH) (for LSTM/RNN = PyTorch's b_ih + b_hh; for GRU the input-side bias b_ih).</summary>
    Parameter<T> B { get; }

    /// <summary>xs (N,T,D) → hs (N,T,H). Returns <see cref="Hs"/> (a workspace valid until the next Forward).</summary>
    Tensor<T> Forward(Tensor<T> xs);
    /// <summary>
    /// dhs = ∂L/∂hs (N,T,H) → dxs = ∂L/∂xs (N,T,D) (a workspace). Adds ∂L/∂Wx, ∂L/∂Wh, ∂L/∂b summed over all steps
    /// into the parameters' Grad; sets <see cref="DH0"/> (and DC0 for LSTM).
    /// </summary>
    Tensor<T> Backward(Tensor<T> dhs);

    /// <summary>Forget the carried state (the next Forward starts from zeros).</summary>
    void ResetState();
    /// <summary>Sets the initial state of the next Forward: h (N,H), and c (N,H) for LSTM (null = zeros). Copied.</summary>
    void SetState(Tensor<T> h, Tensor<T>? c = null);
    /// <summary>The current hidden state (N,H): h of the last step of the last Forward, or the value set by SetState; null after ResetState.</summary>
    Tensor<T>? State { get; }
    /// <summary>The current cell state (N,H) (LSTM only; null otherwise).</summary>
    Tensor<T>? CellState { get; }

    /// <summary>∂L/∂h0 (N,H): the gradient reaching the initial state in the last Backward (null before).</summary>
    Tensor<T>? DH0 { get; }
    /// <summary>∂L/∂c0 (N,H) (LSTM only; null otherwise).</summary>
    Tensor<T>? DC0 { get; }

    /// <summary>hs (N,T,H), the outputs of the last Forward (no copy).</summary>
    Tensor<T> Hs { get; }
    /// <summary>h0 (N,H), the initial state used by the last Forward (no copy).</summary>
    Tensor<T> H0 { get; }
    /// <summary>
    /// (N,T,H): total ∂L/∂h_t reaching h_t in the last Backward — from the loss at t (dhs[:,t]) and from step t+1.
    /// Row t = T−1 equals dhs[:,T−1].
    /// </summary>
    Tensor<T> StepGradH { get; }
    /// <summary>
    /// (N,T,kH): the gradient with respect to the recurrent product h_{t−1}·Wh (+ bh_n for GRU) at each step of the
    /// last Backward, so that the part of ∂L/∂h_{t−1} flowing through W_h is <c>StepGradA[:,t]·Whᵀ</c>.
    /// For RNN and LSTM this is ∂L/∂a_t (the pre-activation gradient); for GRU its n block is ∂L/∂a_n ⊙ r.
    /// </summary>
    Tensor<T> StepGradA { get; }
}
