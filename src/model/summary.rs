//! The layer table `duskmatch info` prints, with parameter counts read from the real modules.

use burn::module::Module;

use super::config::ModelConfig;
use super::vae::DoubleVae;

/// One row of the layer table.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRow {
    pub stage: &'static str,
    pub layer: String,
    pub channels: String,
    pub kernel: String,
    pub after: &'static str,
    pub owner: &'static str,
    /// Parameters of one copy.
    pub params: usize,
    /// Copies in this model: 2 for a part each domain owns, 1 for a shared one (read off
    /// the model: with a shared encoder its convolutions exist once).
    pub copies: usize,
    /// Pretrained weights that no optimiser touches (the backbone's), not in `params`.
    pub frozen: usize,
}

/// "k sS pP" of a convolution, read off the module.
fn kernel_of(c: &burn::nn::conv::Conv2d) -> String {
    let pad = match &c.padding {
        burn::nn::PaddingConfig2d::Explicit(p, ..) => *p,
        _ => 0,
    };
    format!("{} s{} p{pad}", c.kernel_size[0], c.stride[0])
}

/// "in → out" channels of a convolution, read off the module.
fn channels_of(c: &burn::nn::conv::Conv2d) -> String {
    let [co, ci, _, _] = c.weight.dims();
    format!("{ci} → {co}")
}

/// The pretrained network's rows: its stem, each stage of MBConv blocks and nothing trainable.
fn backbone_rows(net: &super::backbone::Backbone) -> Vec<LayerRow> {
    use super::backbone::STAGES;
    let weights = |c: &super::backbone::FrozenConv| {
        c.weight.shape().num_elements() + c.bias.shape().num_elements()
    };
    let frozen_row = |layer: String, channels: String, kernel: String, frozen| LayerRow {
        stage: "pretrained",
        layer,
        channels,
        kernel,
        after: "ReLU6",
        owner: "frozen",
        params: 0,
        copies: 1,
        frozen,
    };
    let mut rows = vec![frozen_row(
        "stem".into(),
        "3 → 32".into(),
        "3 s2 SAME".into(),
        weights(&net.stem),
    )];
    let mut blocks = net.blocks.iter();
    for &(repeats, k, s, e, cin, cout) in &STAGES {
        let frozen = blocks
            .by_ref()
            .take(repeats)
            .map(|b| {
                b.expand.as_ref().map_or(0, weights) + weights(&b.depthwise) + weights(&b.project)
            })
            .sum();
        rows.push(frozen_row(
            format!("MBConv{e} ×{repeats}"),
            format!("{cin} → {cout}"),
            format!("{k} s{s} dw"),
            frozen,
        ));
    }
    if let Some(last) = rows.last_mut() {
        last.after = "→ encoders";
    }
    rows
}

/// The rows of docs/design.md §1 for this model, each with its parameters and copies read off
/// the model's own modules, so the rows add up to [`trainable_params`] of the model.
pub fn layer_table(model: &DoubleVae, config: &ModelConfig) -> Vec<LayerRow> {
    let w = config.base_width;
    let (c1, c2, c4) = (w, 2 * w, 4 * w);
    let e = &model.enc_day;
    let d = &model.dec_day;
    // The encoder's first stage: one per domain, or one for both (with per-domain norms).
    let enc_owner = if model.enc_night.is_some() {
        "domain"
    } else {
        "shared"
    };
    let row = |stage, layer: &str, ch: String, kernel: &str, after, owner, params| LayerRow {
        stage,
        layer: layer.to_string(),
        channels: ch,
        kernel: kernel.to_string(),
        after,
        owner,
        params,
        copies: if owner == "shared" { 1 } else { 2 },
        frozen: 0,
    };
    let mut rows = model
        .backbone
        .as_ref()
        .map(backbone_rows)
        .unwrap_or_default();
    // After a pretrained network conv1 is linear and conv2_1, conv2_2 a residual block.
    let (after1, after2) = match e.after_backbone {
        true => ("linear", "+ conv1 (residual)"),
        false => ("ReLU", "ReLU"),
    };
    rows.extend([
        row(
            "encoder",
            "conv1",
            channels_of(&e.conv1),
            &kernel_of(&e.conv1),
            after1,
            enc_owner,
            trainable_params(&e.conv1),
        ),
        row(
            "encoder",
            "conv2_1",
            channels_of(&e.conv2_1),
            &kernel_of(&e.conv2_1),
            "ReLU",
            enc_owner,
            trainable_params(&e.conv2_1),
        ),
        row(
            "encoder",
            "conv2_2",
            channels_of(&e.conv2_2),
            &kernel_of(&e.conv2_2),
            after2,
            enc_owner,
            trainable_params(&e.conv2_2),
        ),
    ]);
    if let Some(norms) = &model.enc_norms {
        rows.push(LayerRow {
            copies: norms.len(),
            ..row(
                "encoder",
                "inst. norms",
                format!("{c1}, {c2}, {c4}"),
                "affine",
                "conv1, 2_1, 2_2",
                "domain",
                trainable_params(&norms[0]),
            )
        });
    }
    for (i, b) in e.res.blocks.iter().enumerate() {
        rows.push(row(
            "encoder",
            &format!("res {}", 3 + i),
            format!("{c4} → {c4}"),
            "3+3 p1",
            "residual",
            enc_owner,
            trainable_params(b),
        ));
    }
    for (i, b) in model.enc_shared.blocks.iter().enumerate() {
        rows.push(row(
            "encoder",
            &format!("res {}", 5 + i),
            format!("{c4} → {c4}"),
            "3+3 p1",
            if i + 1 == model.enc_shared.blocks.len() {
                "residual → mu"
            } else {
                "residual"
            },
            "shared",
            trainable_params(b),
        ));
    }
    for (i, b) in model.dec_shared.blocks.iter().enumerate() {
        rows.push(row(
            "decoder",
            &format!("res {}", 1 + i),
            format!("{c4} → {c4}"),
            "3+3 p1",
            "residual",
            "shared",
            trainable_params(b),
        ));
    }
    for (i, b) in d.res.blocks.iter().enumerate() {
        rows.push(row(
            "decoder",
            &format!("res {}", 3 + i),
            format!("{c4} → {c4}"),
            "3+3 p1",
            "residual",
            "domain",
            trainable_params(b),
        ));
    }
    for up in &d.ups {
        rows.push(row(
            "decoder",
            "up ×2, conv",
            format!("{c4} → {c4}"),
            "5 p2",
            "BatchNorm, ReLU",
            "domain",
            trainable_params(up),
        ));
    }
    rows.push(row(
        "decoder",
        "up ×2, conv",
        format!("{c4} → {c2}"),
        "5 p2",
        "BatchNorm, ReLU",
        "domain",
        trainable_params(&d.up1),
    ));
    rows.push(row(
        "decoder",
        "up ×2, conv",
        format!("{c2} → {c1}"),
        "5 p2",
        "BatchNorm, ReLU",
        "domain",
        trainable_params(&d.up2),
    ));
    rows.push(row(
        "decoder",
        "conv",
        format!("{c1} → 3"),
        "7 p3",
        "sigmoid",
        "domain",
        trainable_params(&d.out),
    ));
    rows
}

/// Total trainable parameters of the table: each row's parameters times its copies. Rows
/// count trainable parameters only (no BatchNorm running statistics).
pub fn table_total(rows: &[LayerRow]) -> usize {
    rows.iter().map(|r| r.copies * r.params).sum()
}

/// The table as aligned text.
pub fn render_table(rows: &[LayerRow]) -> String {
    let mut out = format!(
        "{:<8} {:<12} {:<12} {:<8} {:<16} {:<7} {:>10}\n",
        "stage", "layer", "channels", "kernel", "after", "owner", "params"
    );
    for r in rows {
        let count = if r.frozen > 0 {
            format!("{} frozen", r.frozen)
        } else if r.copies > 1 {
            format!("{}×{}", r.copies, r.params)
        } else {
            r.params.to_string()
        };
        out.push_str(&format!(
            "{:<8} {:<12} {:<12} {:<8} {:<16} {:<7} {:>10}\n",
            r.stage, r.layer, r.channels, r.kernel, r.after, r.owner, count
        ));
    }
    out
}

/// Trainable parameters: every float parameter except BatchNorm's running statistics, which
/// are buffers (burn's `num_params` counts them too; PyTorch's `parameters()` does not).
pub fn trainable_params<M: Module>(module: &M) -> usize {
    use burn::module::{ModuleVisitor, Param};
    use burn::prelude::Tensor;

    #[derive(Default)]
    struct Counter {
        path: Vec<String>,
        count: usize,
    }
    impl ModuleVisitor for Counter {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let buffer = matches!(
                self.path.last().map(String::as_str),
                Some("running_mean" | "running_var")
            );
            if !buffer {
                self.count += param.lazy_shape().num_elements();
            }
        }
    }
    let mut c = Counter::default();
    module.visit(&mut c);
    c.count
}
