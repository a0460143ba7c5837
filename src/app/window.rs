//! The window: eframe's entry points for the app, and opening it with the wgpu renderer,
//! falling back to OpenGL.

use super::options::AppOptions;
use super::settings::{self, Settings};
use super::{DuskApp, overlay_gpu};

impl eframe::App for DuskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.ui_root(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, settings::STORAGE_KEY, &self.settings);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}

/// Open the window. Prefers the wgpu renderer and falls back to OpenGL.
pub fn run(options: AppOptions) -> Result<(), String> {
    let make = |renderer: eframe::Renderer| {
        let options = options.clone();
        let native = eframe::NativeOptions {
            renderer,
            viewport: egui::ViewportBuilder::default()
                .with_inner_size([1360.0, 860.0])
                .with_title("duskmatch")
                .with_drag_and_drop(true),
            persist_window: true,
            ..Default::default()
        };
        eframe::run_native(
            "duskmatch",
            native,
            Box::new(move |cc| {
                let mut options = options;
                if let Some(s) = cc
                    .storage
                    .and_then(|st| eframe::get_value::<Settings>(st, settings::STORAGE_KEY))
                {
                    options.settings = s;
                }
                let mut app = DuskApp::new(options);
                // Draw saliency overlays with the WGSL shader when egui renders with wgpu.
                if let Some(rs) = cc.wgpu_render_state.as_ref() {
                    overlay_gpu::register(rs);
                    app.saliency.use_gpu = true;
                }
                Ok(Box::new(app))
            }),
        )
    };
    match make(eframe::Renderer::Wgpu) {
        Ok(()) => Ok(()),
        Err(e) => {
            eprintln!("wgpu renderer unavailable ({e}); trying OpenGL");
            make(eframe::Renderer::Glow).map_err(|e| format!("cannot open a window: {e}"))
        }
    }
}
