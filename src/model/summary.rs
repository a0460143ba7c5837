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
    };
    let mut rows = vec![
        row(
            "encoder",
            "conv1",
            format!("3 → {c1}"),
            "7 s1 p3",
            "ReLU",
            enc_owner,
            trainable_params(&e.conv1),
        ),
        row(
            "encoder",
            "conv2_1",
            format!("{c1} → {c2}"),
            "4 s2 p1",
            "ReLU",
            enc_owner,
            trainable_params(&e.conv2_1),
        ),
        row(
            "encoder",
            "conv2_2",
            format!("{c2} → {c4}"),
            "4 s2 p1",
            "ReLU",
            enc_owner,
            trainable_params(&e.conv2_2),
        ),
    ];
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
        let count = if r.copies > 1 {
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
