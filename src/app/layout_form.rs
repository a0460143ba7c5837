//! The dataset panel's layout options, as `--positions`, `--query-domain`, `--database-domain`
//! and `--split` give them on the command line: a positions file for images whose layout
//! holds none (RobotCar Seasons), which encoder reads each side, a downloader root's split.

use crate::data::benchmark::SPLITS;
use crate::data::{Domain, LayoutOptions};

/// What the user typed and chose; read into [`LayoutOptions`] when a folder is loaded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayoutForm {
    pub positions: String,
    pub query_domain: Option<Domain>,
    pub database_domain: Option<Domain>,
    pub split: Option<String>,
}

impl LayoutForm {
    pub fn from_options(o: &LayoutOptions) -> Self {
        Self {
            positions: o
                .positions
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            query_domain: o.query_domain,
            database_domain: o.database_domain,
            split: o.split.clone(),
        }
    }

    pub fn options(&self) -> LayoutOptions {
        let positions = self.positions.trim();
        LayoutOptions {
            positions: (!positions.is_empty()).then(|| positions.into()),
            query_domain: self.query_domain,
            database_domain: self.database_domain,
            split: self.split.clone(),
        }
    }

    /// The form; returns true when the user asked to browse for the positions file.
    pub fn ui(&mut self, ui: &mut egui::Ui, browsing: bool) -> bool {
        let mut browse = false;
        ui.horizontal(|ui| {
            let l = ui.label("Positions file:");
            ui.add(
                egui::TextEdit::singleline(&mut self.positions)
                    .hint_text("image,easting,northing (optional)")
                    .desired_width(160.0),
            )
            .labelled_by(l.id)
            .on_hover_text(
                "A CSV of image,easting,northing (metres), or with a header naming file and \
                 lat,lon: positions for images whose layout holds none (RobotCar Seasons). \
                 Every image must have a row.",
            );
            browse = ui
                .add_enabled(!browsing, egui::Button::new("Browse…"))
                .clicked();
        });
        ui.horizontal(|ui| {
            domain_combo(
                ui,
                "Queries read by",
                "query-encoder",
                &mut self.query_domain,
            );
            domain_combo(
                ui,
                "database by",
                "database-encoder",
                &mut self.database_domain,
            );
        })
        .response
        .on_hover_text(
            "Which encoder reads each side: night queries against a day database by default; \
             Pittsburgh and SF-XL are day against day",
        );
        ui.horizontal(|ui| {
            ui.label("Split:");
            egui::ComboBox::from_id_salt("benchmark-split")
                .selected_text(
                    self.split
                        .as_deref()
                        .unwrap_or("test, else val, else train"),
                )
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.split, None, "test, else val, else train");
                    for s in SPLITS {
                        ui.selectable_value(&mut self.split, Some(s.to_string()), s);
                    }
                });
        })
        .response
        .on_hover_text("A VPR downloader root's split: images/<split>/{database,queries}");
        browse
    }
}

fn domain_combo(ui: &mut egui::Ui, label: &str, id: &str, value: &mut Option<Domain>) {
    ui.label(label);
    let text = |d: Option<Domain>| match d {
        None => "its own domain".to_string(),
        Some(d) => format!("the {d} encoder"),
    };
    egui::ComboBox::from_id_salt(id)
        .selected_text(text(*value))
        .show_ui(ui, |ui| {
            for d in [None, Some(Domain::Day), Some(Domain::Night)] {
                ui.selectable_value(value, d, text(d));
            }
        });
}
