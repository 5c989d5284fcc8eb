//! Native CPU kernels for burn's Flex backend, plugged in through burn's
//! backend-extension mechanism (`#[backend_extension]`: a trait implemented
//! for Flex with the kernel, and for `Autodiff<B, C>` with a hand-written
//! backward pass; calls route through `Dispatch`). One file per kernel.
//!
//! * [`conv_forward`] — a convolution and its input gradient, per image in
//!   parallel: im2col (col2im) around a single-thread GEMM.
//! * [`conv_weight_grad`] — a convolution's weight gradient as a sum of
//!   per-image GEMMs. burn Flex has no native one; burn's generic fallback
//!   swaps the batch into the channel axis and runs one forward convolution
//!   (a whole-batch im2col and a skinny GEMM), several times slower.
//! * [`batch_norm`] — training-mode BatchNorm forward and backward, two
//!   passes each, parallel, the backward in place.
//! * [`compare`] — each of them against burn's op (`bench kernels`, tests).
//!
//! Where `bench kernels` measured burn's op faster on a shape class, the
//! Flex implementation hands that shape to burn (see `native_forward`,
//! `native_input_grad`, `native_weight_grad`).
//!
//! Same products and sums as burn's ops, added in another order: results
//! agree to float rounding (tests/kernels.rs states the bounds).
//! [`set_native`] switches back to burn's generic ops (`bench kernels`
//! compares the two; `NEGSTUDY_KERNELS=generic` does it for a whole run).

pub mod batch_norm;
pub mod compare;
pub mod conv_forward;
pub mod conv_weight_grad;

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
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
) -> Option<conv_weight_grad::ConvShape> {
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
    let shape = conv_weight_grad::ConvShape {
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
fn native_forward(s: &conv_weight_grad::ConvShape) -> bool {
    s.in_channels > 1 && !(s.kernel == 1 && s.stride == 1 && s.padding == 0)
}

/// Input gradient: burn's for 1×1 stride-1 convolutions (one plain GEMM
/// there too).
fn native_input_grad(s: &conv_weight_grad::ConvShape) -> bool {
    !(s.kernel == 1 && s.stride == 1 && s.padding == 0)
}

/// Weight gradient: burn's for outputs of 8×8 or fewer pixels, where
/// per-image GEMMs have too few terms each and burn's one large GEMM wins.
fn native_weight_grad(s: &conv_weight_grad::ConvShape) -> bool {
    let (oh, ow) = s.output();
    oh * ow > 64
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
        let Some(s) = native_shape(&x, &weight, stride, padding)
            .filter(|s| native_weight_grad(s) && all_f32(&[&output_grad]))
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

/// Training-mode BatchNorm whose forward and backward a backend may compute
/// natively (burn's `batch_norm_train` and its backward by default).
#[backend_extension(Flex, Autodiff)]
pub trait BatchNormKernels: Backend {
    /// Output, batch mean and biased batch variance.
    fn batch_norm_train_plain(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train(x, gamma, beta, epsilon);
        (r.output, r.mean, r.variance)
    }

    /// Gradients of x, γ and β.
    fn batch_norm_train_plain_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train_backward(x, gamma, mean, variance, epsilon, output_grad);
        (r.x_grad, r.gamma_grad, r.beta_grad)
    }
}

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
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        if x.shape().num_dims() < 2 || !all_f32(&[&x, &gamma, &beta]) {
            let r = Self::batch_norm_train(x, gamma, beta, epsilon);
            return (r.output, r.mean, r.variance);
        }
        let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
        let p = planes_of(&x);
        let f = batch_norm::forward(view(&x), view(&gamma), view(&beta), &p, epsilon);
        (
            flex_vec(f.output, x.shape()),
            flex_vec(f.mean, [p.channels].into()),
            flex_vec(f.variance, [p.channels].into()),
        )
    }

    fn batch_norm_train_plain_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        output_grad: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        if x.shape().num_dims() < 2 || !all_f32(&[&x, &gamma, &mean, &variance, &output_grad]) {
            let r = Self::batch_norm_train_backward(x, gamma, mean, variance, epsilon, output_grad);
            return (r.x_grad, r.gamma_grad, r.beta_grad);
        }
        let (x, gamma) = (contiguous(x), contiguous(gamma));
        let (mean, variance) = (contiguous(mean), contiguous(variance));
        let p = planes_of(&x);
        let mut grad = owned(output_grad);
        let g = batch_norm::backward_in_place(
            view(&x),
            view(&gamma),
            view(&mean),
            view(&variance),
            epsilon,
            grad.storage_mut::<f32>(),
            &p,
        );
        (
            grad,
            flex_vec(g.gamma, [p.channels].into()),
            flex_vec(g.beta, [p.channels].into()),
        )
    }
}

impl<B: Backend + BatchNormKernels, C: CheckpointStrategy> BatchNormKernels for Autodiff<B, C> {
    fn batch_norm_train_plain(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        /// burn-autodiff's `BatchNormTrainOps`, calling the extension's
        /// backward.
        #[derive(Debug)]
        struct BatchNormPlain;

        impl<B: Backend + BatchNormKernels> Backward<B, 3> for BatchNormPlain {
            type State = (
                NodeId,
                NodeId,
                B::FloatTensorPrimitive,
                B::FloatTensorPrimitive,
                f64,
            );

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, gamma_state, mean, variance, epsilon) = ops.state;
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                let gamma =
                    checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(gamma_state);
                let (dx, dgamma, dbeta) =
                    B::batch_norm_train_plain_backward(x, gamma, mean, variance, epsilon, grad);
                for (node, g) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, g);
                    }
                }
            }
        }

        match BatchNormPlain
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let (out, mean, variance) = B::batch_norm_train_plain(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                let state = (
                    x_state,
                    gamma_state,
                    mean.clone(),
                    variance.clone(),
                    epsilon,
                );
                let out = prep.finish(state, out);
                (
                    out,
                    FloatTensor::<Self>::new(mean),
                    FloatTensor::<Self>::new(variance),
                )
            }
            OpsKind::UnTracked(prep) => {
                let (out, mean, variance) = B::batch_norm_train_plain(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                (
                    prep.finish(out),
                    FloatTensor::<Self>::new(mean),
                    FloatTensor::<Self>::new(variance),
                )
            }
        }
    }
}

/// `bn.forward(x)`, with the native training-mode kernels on the CPU: the
/// same output, and the same running-statistics update as burn's
/// `BatchNorm::forward_train` (momentum blend of the detached batch mean
/// and biased variance).
pub fn batch_norm_layer<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !(device.is_autodiff() && bn.training.is_enabled() && on_cpu(&device)) {
        return bn.forward(x);
    }
    let (out, mean, variance) = <Dispatch as BatchNormKernels>::batch_norm_train_plain(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
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
