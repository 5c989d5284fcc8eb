//! Native CPU kernels for burn's Flex backend, plugged in through burn's
//! backend-extension mechanism (`#[backend_extension]`: a trait implemented
//! for Flex with the kernel, and for `Autodiff<B, C>` with a hand-written
//! backward pass; calls route through `Dispatch`). One file per kernel.
//!
//! * [`conv_forward`] — a convolution and its input gradient, per image in
//!   parallel: im2col (col2im) around a single-thread GEMM.
//! * [`im2col`] — the im2col matrix and its adjoint, and the shape type.
//! * [`conv_weight_grad`] — a convolution's weight gradient as a sum of
//!   GEMMs over fixed 8-image chunks. burn Flex has no native one; burn's
//!   generic fallback swaps the batch into the channel axis and runs one
//!   forward convolution (a whole-batch im2col and a skinny GEMM), several
//!   times slower.
//! * [`batch_norm`] — training-mode BatchNorm forward and backward, two
//!   passes each, parallel, the backward in place, with the ReLU (or the
//!   residual sum and ReLU) that follows it fused in ([`After`]).
//! * [`memory`] — malloc thresholds that keep freed activations for reuse.
//! * [`compare`] — each of them against burn's op (`bench kernels`, tests).
//!
//! Where `bench kernels` measured burn's op faster on a shape class, the
//! Flex implementation hands that shape to burn (see `native_forward`,
//! `native_input_grad`).
//!
//! Same products and sums as burn's ops, added in another order: results
//! agree to float rounding (tests/kernels.rs states the bounds).
//! [`set_native`] switches back to burn's generic ops (`bench kernels`
//! compares the two; `NEGSTUDY_KERNELS=generic` does it for a whole run).

pub mod batch_norm;
pub mod compare;
pub mod conv_forward;
pub mod conv_weight_grad;
pub mod im2col;
pub mod memory;

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use burn::tensor::DType;

static GENERIC: AtomicBool = AtomicBool::new(false);

/// Use the native kernels (`true`, the default) or burn's generic ops.
pub fn set_native(native: bool) {
    GENERIC.store(!native, Ordering::Relaxed);
}

/// Whether the native kernels are in use.
pub fn native() -> bool {
    !GENERIC.load(Ordering::Relaxed)
}

/// Reads `NEGSTUDY_KERNELS` (`generic` or `native`); anything else is an
/// error naming the variable.
pub fn configure_from_env() -> anyhow::Result<()> {
    match std::env::var("NEGSTUDY_KERNELS").as_deref() {
        Err(_) | Ok("") | Ok("native") => set_native(true),
        Ok("generic") => set_native(false),
        Ok(other) => anyhow::bail!("NEGSTUDY_KERNELS={other:?}: expected `native` or `generic`"),
    }
    Ok(())
}

/// Whether `device` runs on burn's CPU (Flex) backend, where the native
/// kernels apply.
fn on_cpu(device: &Device) -> bool {
    native() && device.clone().inner() == Device::flex()
}

fn options(stride: usize, padding: usize) -> ConvOptions<2> {
    ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1)
}

/// A 2-D convolution without bias, groups 1, dilation 1, square stride and
/// padding, whose forward and gradients a backend may compute natively
/// (burn's ops by default).
#[backend_extension(Flex, Autodiff)]
pub trait ConvKernels: Backend {
    /// The convolution (default: burn's).
    fn conv2d_plain(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options(stride, padding))
    }

    /// Its input gradient (default: burn's).
    fn conv2d_plain_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options(stride, padding))
    }

    /// Its weight gradient (default: burn's generic one).
    fn conv2d_plain_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options(stride, padding))
    }
}

/// The tensor made contiguous (zero-copy when it already is).
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// Its values, row-major; `t` must have come through [`contiguous`].
fn view(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("contiguous f32 tensor")
}

/// An exclusively owned, exact-size copy of `t`'s values (no copy when `t`
/// is already one: unique, contiguous, at offset 0), writable in place.
fn owned(t: FlexTensor) -> FlexTensor {
    FlexTensor::from_data(t.into_data())
}

fn all_f32(tensors: &[&FlexTensor]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

/// The native kernels' shape for this convolution, or `None` where burn's
/// op is used: a non-square kernel, mismatched channels, a dtype other than
/// f32. Each op adds its own rule where `bench kernels` measured burn's
/// faster.
fn native_shape(
    x: &FlexTensor,
    weight: &FlexTensor,
    stride: usize,
    padding: usize,
) -> Option<im2col::ConvShape> {
    let (xs, ws) = (x.shape(), weight.shape());
    if xs.num_dims() != 4
        || ws.num_dims() != 4
        || ws[2] != ws[3]
        || ws[1] != xs[1]
        || !all_f32(&[x, weight])
    {
        return None;
    }
    if stride == 0 || xs[2] + 2 * padding < ws[2] || xs[3] + 2 * padding < ws[3] {
        return None;
    }
    let shape = im2col::ConvShape {
        batch: xs[0],
        in_channels: xs[1],
        out_channels: ws[0],
        height: xs[2],
        width: xs[3],
        kernel: ws[2],
        stride,
        padding,
    };
    Some(shape)
}

/// Forward: burn's for one input channel (its direct path for a 1-channel
/// stem is several times faster than a 9-row GEMM) and for 1×1 stride-1
/// convolutions (its plain-GEMM fast path).
fn native_forward(s: &im2col::ConvShape) -> bool {
    s.in_channels > 1 && !s.pointwise()
}

/// Input gradient: burn's for 1×1 stride-1 convolutions (one plain GEMM
/// there too).
fn native_input_grad(s: &im2col::ConvShape) -> bool {
    !s.pointwise()
}

impl ConvKernels for Flex {
    fn conv2d_plain(
        x: FlexTensor,
        weight: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        let Some(s) = native_shape(&x, &weight, stride, padding).filter(native_forward) else {
            return Self::conv2d(x, weight, None, options(stride, padding));
        };
        let (x, weight) = (contiguous(x), contiguous(weight));
        let (oh, ow) = s.output();
        let out = conv_forward::conv2d(view(&x), view(&weight), &s);
        flex_vec(out, [s.batch, s.out_channels, oh, ow].into())
    }

    fn conv2d_plain_input_grad(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        let Some(s) = native_shape(&x, &weight, stride, padding)
            .filter(|s| native_input_grad(s) && all_f32(&[&output_grad]))
        else {
            return Self::conv2d_x_backward(x, weight, output_grad, options(stride, padding));
        };
        let (weight, output_grad) = (contiguous(weight), contiguous(output_grad));
        let dx = conv_forward::conv2d_input_grad(view(&output_grad), view(&weight), &s);
        flex_vec(dx, x.shape())
    }

    fn conv2d_plain_weight_grad(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        // Native for every shape it takes (small outputs share one GEMM
        // among several images: `conv_weight_grad::images_per_gemm`).
        let Some(s) =
            native_shape(&x, &weight, stride, padding).filter(|_| all_f32(&[&output_grad]))
        else {
            return Self::conv2d_weight_backward(x, weight, output_grad, options(stride, padding));
        };
        let (x, output_grad) = (contiguous(x), contiguous(output_grad));
        let dw = conv_weight_grad::conv2d_weight_grad(view(&x), view(&output_grad), &s);
        flex_vec(dw, weight.shape())
    }
}

impl<B: Backend + ConvKernels, C: CheckpointStrategy> ConvKernels for Autodiff<B, C> {
    fn conv2d_plain(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvPlain;

        impl<B: Backend + ConvKernels> Backward<B, 2> for ConvPlain {
            type State = (NodeId, NodeId, usize, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state, stride, padding) = ops.state;
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                let weight =
                    checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
                if let Some(node) = node_x {
                    let dx = B::conv2d_plain_input_grad(
                        x.clone(),
                        weight.clone(),
                        grad.clone(),
                        stride,
                        padding,
                    );
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_weight {
                    let dw = B::conv2d_plain_weight_grad(x, weight, grad, stride, padding);
                    grads.register::<B>(node.id, dw);
                }
            }
        }

        match ConvPlain
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let out =
                    B::conv2d_plain(x.into_primitive(), weight.into_primitive(), stride, padding);
                prep.finish((x_state, weight_state, stride, padding), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_plain(
                x.into_primitive(),
                weight.into_primitive(),
                stride,
                padding,
            )),
        }
    }
}

/// `conv2d(x, weight)` (no bias, groups 1, dilation 1) with the native
/// weight gradient on the CPU (Flex) device; elsewhere burn's convolution.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    if !on_cpu(&x.device()) {
        return burn::tensor::module::conv2d(x, weight, None, options(stride, padding));
    }
    Tensor::from_dispatch(<Dispatch as ConvKernels>::conv2d_plain(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
        padding,
    ))
}

/// Training-mode BatchNorm, with the ReLU (and residual sum) that follows it
/// in a ResNet fused in, whose forward a backend may compute natively
/// (burn's `batch_norm_train`, add and `relu` by default); the backward is
/// [`BatchNormGrads`].
#[backend_extension(Flex, Autodiff)]
pub trait BatchNormKernels: Backend {
    /// `BN(x)`, or `relu(BN(x))` with `relu`; the batch mean and the biased
    /// batch variance.
    fn batch_norm_train_plain(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        batch_norm_then::<Self>(x, gamma, beta, epsilon, None, relu)
    }

    /// `relu(BN(x) + residual)` (a residual block's end), the batch mean and
    /// the biased batch variance.
    fn batch_norm_add_relu_train_plain(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        batch_norm_then::<Self>(x, gamma, beta, epsilon, Some(residual), true)
    }
}

/// burn's ops: `relu?(batch_norm_train(x) + residual?)`.
fn batch_norm_then<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
    residual: Option<FloatTensor<B>>,
    relu: bool,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let r = B::batch_norm_train(x, gamma, beta, epsilon);
    let mut out = r.output;
    if let Some(residual) = residual {
        out = B::float_add(out, residual);
    }
    if relu {
        out = B::relu(out);
    }
    (out, r.mean, r.variance)
}

/// The gradients of [`BatchNormKernels`]' ops (a plain trait: the
/// extension macro takes no optional tensors, and only the autodiff
/// backward calls these, on the inner backend).
pub trait BatchNormGrads: Backend {
    /// Gradients of x, γ and β, and — when `residual` — of the residual (the
    /// output gradient through the ReLU). `relu_output` is the forward's
    /// output when it ended in a ReLU. Default: burn's `relu_backward` and
    /// `batch_norm_train_backward`.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_train_plain_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        output_grad: FloatTensor<Self>,
        relu_output: Option<FloatTensor<Self>>,
        residual: bool,
    ) -> BatchNormGradients<Self> {
        let stats = [mean, variance];
        burn_batch_norm_backward::<Self>(
            x,
            gamma,
            stats,
            epsilon,
            output_grad,
            relu_output,
            residual,
        )
    }
}

/// burn's ops: `relu_backward` (given the ReLU's output), then
/// `batch_norm_train_backward`; the residual's gradient is the masked one.
fn burn_batch_norm_backward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    [mean, variance]: [FloatTensor<B>; 2],
    epsilon: f64,
    output_grad: FloatTensor<B>,
    relu_output: Option<FloatTensor<B>>,
    residual: bool,
) -> BatchNormGradients<B> {
    let grad = match relu_output {
        Some(output) => B::relu_backward(output, output_grad),
        None => output_grad,
    };
    let residual_grad = residual.then(|| grad.clone());
    let r = B::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
    (r.x_grad, r.gamma_grad, r.beta_grad, residual_grad)
}

/// Output, batch mean and biased batch variance.
type BatchNormOutputs<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

/// Gradients of x, γ, β and (if asked) the residual.
pub type BatchNormGradients<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    Option<FloatTensor<B>>,
);

fn planes_of(x: &FlexTensor) -> batch_norm::Planes {
    let shape = x.shape();
    let (batch, channels) = (shape[0], shape[1]);
    batch_norm::Planes {
        batch,
        channels,
        plane: shape.num_elements() / (batch * channels).max(1),
    }
}

fn flex_vec(values: Vec<f32>, shape: burn::tensor::Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl BatchNormKernels for Flex {
    fn batch_norm_train_plain(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        flex_batch_norm(x, gamma, beta, epsilon, None, relu)
    }

    fn batch_norm_add_relu_train_plain(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        residual: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        flex_batch_norm(x, gamma, beta, epsilon, Some(residual), true)
    }
}

/// The native fused forward (burn's ops for a shape or dtype it does not
/// take).
fn flex_batch_norm(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
    residual: Option<FlexTensor>,
    relu: bool,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let residual_fits = residual
        .as_ref()
        .is_none_or(|r| r.shape() == x.shape() && all_f32(&[r]));
    if x.shape().num_dims() < 2 || !all_f32(&[&x, &gamma, &beta]) || !residual_fits {
        return batch_norm_then::<Flex>(x, gamma, beta, epsilon, residual, relu);
    }
    let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
    let residual = residual.map(contiguous);
    let then = match (&residual, relu) {
        (Some(r), _) => batch_norm::Then::AddRelu(view(r)),
        (None, true) => batch_norm::Then::Relu,
        (None, false) => batch_norm::Then::Nothing,
    };
    let p = planes_of(&x);
    let f = batch_norm::forward(view(&x), view(&gamma), view(&beta), &p, epsilon, then);
    (
        flex_vec(f.output, x.shape()),
        flex_vec(f.mean, [p.channels].into()),
        flex_vec(f.variance, [p.channels].into()),
    )
}

impl BatchNormGrads for Flex {
    fn batch_norm_train_plain_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        output_grad: FlexTensor,
        relu_output: Option<FlexTensor>,
        residual: bool,
    ) -> BatchNormGradients<Flex> {
        let output_fits = relu_output
            .as_ref()
            .is_none_or(|y| y.shape() == x.shape() && all_f32(&[y]));
        if x.shape().num_dims() < 2
            || !all_f32(&[&x, &gamma, &mean, &variance, &output_grad])
            || !output_fits
        {
            let stats = [mean, variance];
            return burn_batch_norm_backward::<Flex>(
                x,
                gamma,
                stats,
                epsilon,
                output_grad,
                relu_output,
                residual,
            );
        }
        let (x, gamma) = (contiguous(x), contiguous(gamma));
        let (mean, variance) = (contiguous(mean), contiguous(variance));
        let relu_output = relu_output.map(contiguous);
        let p = planes_of(&x);
        let mut grad = owned(output_grad);
        let mut residual_grad = residual.then(|| vec![0f32; p.len()]);
        let g = batch_norm::backward_in_place(
            view(&x),
            view(&gamma),
            view(&mean),
            view(&variance),
            epsilon,
            grad.storage_mut::<f32>(),
            &p,
            batch_norm::Fused {
                relu_output: relu_output.as_ref().map(view),
                residual_grad: residual_grad.as_deref_mut(),
            },
        );
        (
            grad,
            flex_vec(g.gamma, [p.channels].into()),
            flex_vec(g.beta, [p.channels].into()),
            residual_grad.map(|r| flex_vec(r, x.shape())),
        )
    }
}

/// What a fused BatchNorm's backward needs: the checkpointed x and γ, the
/// batch mean and variance, ε, and the output when a ReLU ended it.
type BatchNormState<B> = (
    NodeId,
    NodeId,
    FloatTensor<B>,
    FloatTensor<B>,
    f64,
    Option<FloatTensor<B>>,
);

/// burn-autodiff's `BatchNormTrainOps`, calling the extension's backward;
/// parents x, γ, β (and the residual when N = 4).
#[derive(Debug)]
struct BatchNormPlain;

impl<B: Backend + BatchNormGrads, const N: usize> Backward<B, N> for BatchNormPlain {
    type State = BatchNormState<B>;

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, gamma_state, mean, variance, epsilon, relu_output) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let gamma = checkpointer.retrieve_node_output::<FloatTensor<B>>(gamma_state);
        let residual = ops.parents.get(3).is_some_and(Option::is_some);
        let (dx, dgamma, dbeta, dresidual) = B::batch_norm_train_plain_backward(
            x,
            gamma,
            mean,
            variance,
            epsilon,
            grad,
            relu_output,
            residual,
        );
        let all = [Some(dx), Some(dgamma), Some(dbeta), dresidual];
        for (node, g) in ops.parents.into_iter().zip(all) {
            if let (Some(node), Some(g)) = (node, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

/// The inner backend's forward (`compute`, from x, γ, β) through autodiff,
/// for N parents (x, γ, β, and the residual when N = 4); `relu`: it ends in
/// a ReLU, whose output the backward needs.
fn batch_norm_tracked<B: Backend + BatchNormGrads, C: CheckpointStrategy, const N: usize>(
    nodes: [NodeGuard; N],
    [x, gamma, beta]: [FloatTensor<Autodiff<B, C>>; 3],
    epsilon: f64,
    relu: bool,
    compute: impl FnOnce(FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) -> [FloatTensor<B>; 3],
) -> BatchNormOutputs<Autodiff<B, C>>
where
    BatchNormPlain: Backward<B, N, State = BatchNormState<B>>,
{
    let stats = |t: FloatTensor<B>| FloatTensor::<Autodiff<B, C>>::new(t);
    match BatchNormPlain
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let gamma_state = prep.checkpoint(&gamma);
            let [out, mean, variance] = compute(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
            );
            let state = (
                x_state,
                gamma_state,
                mean.clone(),
                variance.clone(),
                epsilon,
                relu.then(|| out.clone()),
            );
            (prep.finish(state, out), stats(mean), stats(variance))
        }
        OpsKind::UnTracked(prep) => {
            let [out, mean, variance] = compute(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
            );
            (prep.finish(out), stats(mean), stats(variance))
        }
    }
}

impl<B: Backend + BatchNormKernels + BatchNormGrads, C: CheckpointStrategy> BatchNormKernels
    for Autodiff<B, C>
{
    fn batch_norm_train_plain(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let nodes = [x.node(), gamma.node(), beta.node()];
        batch_norm_tracked::<B, C, 3>(nodes, [x, gamma, beta], epsilon, relu, |x, g, b| {
            let (out, mean, variance) = B::batch_norm_train_plain(x, g, b, epsilon, relu);
            [out, mean, variance]
        })
    }

    fn batch_norm_add_relu_train_plain(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let nodes = [x.node(), gamma.node(), beta.node(), residual.node()];
        let residual = residual.into_primitive();
        batch_norm_tracked::<B, C, 4>(nodes, [x, gamma, beta], epsilon, true, |x, g, b| {
            let (out, mean, variance) =
                B::batch_norm_add_relu_train_plain(x, g, b, residual, epsilon);
            [out, mean, variance]
        })
    }
}

/// What follows a BatchNorm layer in a ResNet: fused into the layer's
/// passes by the native kernels, applied after it elsewhere.
#[derive(Clone, Debug)]
// A short-lived argument, moved once into the layer: boxing the skip
// tensor would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum After<const D: usize> {
    /// Nothing.
    Nothing,
    /// A ReLU.
    Relu,
    /// A residual sum and a ReLU (a block's end): `relu(bn(x) + skip)`.
    AddRelu(Tensor<D>),
}

impl<const D: usize> After<D> {
    /// Applies it to `y`, with burn's ops.
    fn apply(self, y: Tensor<D>) -> Tensor<D> {
        match self {
            After::Nothing => y,
            After::Relu => burn::tensor::activation::relu(y),
            After::AddRelu(skip) => burn::tensor::activation::relu(y + skip),
        }
    }
}

/// `after(bn.forward(x))`, with the native training-mode kernels on the CPU:
/// the same output, and the same running-statistics update as burn's
/// `BatchNorm::forward_train` (momentum blend of the detached batch mean
/// and biased variance).
pub fn batch_norm_layer<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    after: After<D>,
) -> Tensor<D> {
    let device = x.device();
    if !(device.is_autodiff() && bn.training.is_enabled() && on_cpu(&device)) {
        return after.apply(bn.forward(x));
    }
    let (x, gamma, beta) = (
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
    );
    let (out, mean, variance) = match after {
        After::AddRelu(skip) => <Dispatch as BatchNormKernels>::batch_norm_add_relu_train_plain(
            x,
            gamma,
            beta,
            skip.into_dispatch(),
            bn.epsilon,
        ),
        plain => <Dispatch as BatchNormKernels>::batch_norm_train_plain(
            x,
            gamma,
            beta,
            bn.epsilon,
            matches!(plain, After::Relu),
        ),
    };
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - bn.momentum)
            .add(batch.detach().mul_scalar(bn.momentum))
            .detach()
    };
    bn.running_mean.update(blend(
        bn.running_mean.value_sync(),
        Tensor::from_dispatch(mean),
    ));
    bn.running_var.update(blend(
        bn.running_var.value_sync(),
        Tensor::from_dispatch(variance),
    ));
    Tensor::from_dispatch(out)
}
