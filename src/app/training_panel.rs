//! Start, pause, resume, stop and save, the device in use, and progress with ETA.

use super::session::TrainingSession;
use crate::run::Phase;

/// What the user asked the training controls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainAction {
    /// A new run from freshly initialised weights.
    Start,
    /// Continue training from the loaded checkpoint, into a new run folder.
    Continue,
    TogglePause,
    Stop,
    SaveNow,
}

pub fn format_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "–".into();
    }
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{}:{:02} min", s / 60, s % 60),
        _ => format!("{}:{:02}:{:02} h", s / 3600, s % 3600 / 60, s % 60),
    }
}

pub fn controls_ui(
    ui: &mut egui::Ui,
    session: Option<&TrainingSession>,
    can_start: bool,
    can_continue: bool,
    device: &str,
) -> Option<TrainAction> {
    let mut action = None;
    let state = session.map(|s| s.status.phase);
    let active = session.is_some_and(|s| s.status.is_active());
    ui.horizontal_wrapped(|ui| {
        if ui
            .add_enabled(!active && can_start, egui::Button::new("Start"))
            .on_hover_text("Train a new model from scratch")
            .clicked()
        {
            action = Some(TrainAction::Start);
        }
        if ui
            .add_enabled(
                !active && can_start && can_continue,
                egui::Button::new("Continue"),
            )
            .on_hover_text("Train the newest checkpoint of the run in view (the last run of this window, else the loaded checkpoint) for the configured number of epochs more, into a new run folder")
            .clicked()
        {
            action = Some(TrainAction::Continue);
        }
        let pause_label = if state == Some(Phase::Paused) {
            "Resume"
        } else {
            "Pause"
        };
        if ui
            .add_enabled(active, egui::Button::new(pause_label))
            .on_hover_text("Space")
            .clicked()
        {
            action = Some(TrainAction::TogglePause);
        }
        if ui
            .add_enabled(active, egui::Button::new("Stop"))
            .on_hover_text("Stop after this step and save")
            .clicked()
        {
            action = Some(TrainAction::Stop);
        }
        if ui
            .add_enabled(active, egui::Button::new("Save checkpoint now"))
            .on_hover_text("Ctrl+S")
            .clicked()
        {
            action = Some(TrainAction::SaveNow);
        }
    });
    ui.label(format!("Device: {device}"));
    if let Some(s) = session {
        let p = s.progress;
        let frac = if p.total_steps > 0 {
            p.step as f32 / p.total_steps as f32
        } else {
            0.0
        };
        let (sps, eta) = s
            .last_step
            .as_ref()
            .map(|r| (r.steps_per_sec, r.eta_secs))
            .unwrap_or((0.0, f64::NAN));
        let status = match s.status.phase {
            Phase::Running => "training",
            Phase::Paused => "paused",
            Phase::Finished => "finished",
        };
        ui.add(egui::ProgressBar::new(frac).show_percentage());
        ui.label(format!(
            "{status} · epoch {}/{} · step {}/{} · {:.2} steps/s · ETA {}",
            (p.epoch + 1).min(p.epochs.max(1)),
            p.epochs,
            p.step,
            p.total_steps,
            sps,
            if s.status.phase == Phase::Running {
                format_duration(eta)
            } else {
                "–".into()
            }
        ));
        if let Some(r) = &s.last_step {
            let l = r.losses;
            ui.weak(format!(
                "loss {:.4} (rec {:.4}, kl {:.3}, cyc {:.4}, kl_cyc {:.3}) · lr {:.1e}",
                l.total, l.reconstruction, l.kl, l.cycle, l.cycle_kl, r.lr
            ));
        }
    }
    action
}
