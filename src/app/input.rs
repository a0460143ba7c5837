//! Keyboard shortcuts (Space pauses or resumes, Ctrl+S saves) and folders dropped on the
//! window.

use std::path::PathBuf;

use super::DuskApp;
use super::training_panel::TrainAction;

impl DuskApp {
    pub(super) fn shortcuts(&mut self, ctx: &egui::Context) {
        let typing = ctx.memory(|m| m.focused().is_some());
        let (space, save) = ctx.input_mut(|i| {
            let save = i.consume_key(egui::Modifiers::COMMAND, egui::Key::S);
            let space = !typing && i.consume_key(egui::Modifiers::NONE, egui::Key::Space);
            (space, save)
        });
        if space {
            self.act(TrainAction::TogglePause);
        }
        if save {
            self.act(TrainAction::SaveNow);
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(p) = dropped.into_iter().next() {
            self.dataset_panel.choose_folder(p, &mut self.notices);
            if let Some(source) = self.dataset_panel.take_chosen() {
                self.load_dataset(source);
            }
        }
    }
}
