//! The messages at the top of the window: what background work reported (errors, warnings,
//! information), the newest few, each dismissable.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone)]
pub struct Notice {
    pub level: Level,
    pub text: String,
}

/// The newest notices, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Notices(Vec<Notice>);

impl Notices {
    /// How many stay on screen; older ones make way.
    const KEPT: usize = 6;

    pub fn push(&mut self, level: Level, text: impl Into<String>) {
        let text = text.into();
        // The same message twice in a row is noise.
        if self.0.last().is_some_and(|n| n.text == text) {
            return;
        }
        self.0.push(Notice { level, text });
        if self.0.len() > Self::KEPT {
            self.0.remove(0);
        }
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.push(Level::Error, text);
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Notice> {
        self.0.iter()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One line each, with a button that dismisses it.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let mut dismiss = None;
        for (i, n) in self.0.iter().enumerate() {
            ui.horizontal(|ui| {
                let (icon, color) = match n.level {
                    Level::Info => ("info:", ui.visuals().text_color()),
                    Level::Warning => ("warning:", ui.visuals().warn_fg_color),
                    Level::Error => ("error:", ui.visuals().error_fg_color),
                };
                if ui.small_button("x").on_hover_text("dismiss").clicked() {
                    dismiss = Some(i);
                }
                ui.colored_label(color, format!("{icon} {}", n.text));
            });
        }
        if let Some(i) = dismiss {
            self.0.remove(i);
        }
    }
}

impl IntoIterator for Notices {
    type Item = Notice;
    type IntoIter = std::vec::IntoIter<Notice>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
