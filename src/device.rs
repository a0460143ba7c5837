//! Choosing where tensors live: a GPU through wgpu when one exists, else burn's Flex CPU
//! backend. The same model code runs on either; only this file names a backend.

use std::sync::OnceLock;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A hardware GPU through wgpu if present, else the CPU.
    #[default]
    Auto,
    /// wgpu, even on a software adapter; fails if there is none.
    Gpu,
    /// burn's Flex CPU backend.
    Cpu,
}

/// A device ready for tensors, and how to describe it to the user.
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    pub device: Device,
    /// e.g. "wgpu: NVIDIA RTX 4090 (Vulkan)" or "CPU (burn Flex, 2 threads)".
    pub label: String,
    pub is_gpu: bool,
    /// Why this device was chosen when it is not what the user might expect.
    pub note: Option<String>,
}

/// The wgpu adapter, probed once per process (the runtime can be initialised only once).
#[derive(Clone, Debug)]
pub struct WgpuProbe {
    pub device: Device,
    pub adapter: String,
    pub backend: String,
    pub software: bool,
    /// The raw wgpu handles burn runs on, for custom GPU work beside it (e.g. shaders).
    pub wgpu_device: burn::tensor::wgpu::wgpu::Device,
    pub wgpu_queue: burn::tensor::wgpu::wgpu::Queue,
}

static WGPU: OnceLock<Result<WgpuProbe, String>> = OnceLock::new();

/// Initialise burn's wgpu runtime (once) and describe its adapter, or say why there is none.
pub fn probe_wgpu() -> Result<WgpuProbe, String> {
    WGPU.get_or_init(|| {
        let attempt = std::panic::catch_unwind(|| Device::wgpu_options().init_with_setup());
        match attempt {
            Ok(Ok((device, setup))) => {
                let info = setup.adapter.get_info();
                Ok(WgpuProbe {
                    device,
                    adapter: info.name.clone(),
                    backend: format!("{:?}", info.backend),
                    software: info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu,
                    wgpu_device: setup.device.clone(),
                    wgpu_queue: setup.queue.clone(),
                })
            }
            Ok(Err(e)) => Err(format!("no wgpu adapter: {e}")),
            Err(_) => Err("no wgpu adapter: wgpu initialisation panicked".to_string()),
        }
    })
    .clone()
}

/// The Flex CPU device.
pub fn cpu() -> ComputeDevice {
    // Flex runs on rayon's global pool, which `--threads` may have sized below the core count.
    let threads = rayon::current_num_threads();
    ComputeDevice {
        device: Device::flex(),
        label: format!(
            "CPU (burn Flex, {threads} thread{})",
            if threads == 1 { "" } else { "s" }
        ),
        is_gpu: false,
        note: None,
    }
}

/// Pick a device. `Auto` prefers a hardware GPU and falls back to the CPU with a note saying
/// why; a software rasteriser (Mesa's lavapipe) is slower than Flex, so `Auto` skips it.
pub fn select(choice: BackendChoice) -> Result<ComputeDevice, String> {
    match choice {
        BackendChoice::Cpu => Ok(cpu()),
        BackendChoice::Gpu => {
            let p = probe_wgpu()?;
            Ok(ComputeDevice {
                device: p.device.clone(),
                label: format!("wgpu: {} ({})", p.adapter, p.backend),
                is_gpu: true,
                note: p.software.then(|| {
                    format!(
                        "{} is a software adapter: expect CPU-like speed or slower",
                        p.adapter
                    )
                }),
            })
        }
        BackendChoice::Auto => match probe_wgpu() {
            Ok(p) if !p.software => Ok(ComputeDevice {
                device: p.device.clone(),
                label: format!("wgpu: {} ({})", p.adapter, p.backend),
                is_gpu: true,
                note: None,
            }),
            Ok(p) => Ok(ComputeDevice {
                note: Some(format!(
                    "the only wgpu adapter is {}, a software rasteriser; using the faster CPU backend (--backend gpu forces it)",
                    p.adapter
                )),
                ..cpu()
            }),
            Err(e) => Ok(ComputeDevice {
                note: Some(format!("{e}; using the CPU backend")),
                ..cpu()
            }),
        },
    }
}

/// burn materialises some state (e.g. a loaded optimiser record) on `Device::default()`, which
/// would initialise wgpu even for a CPU run and panic where no adapter exists. Point it at Flex
/// unless the user chose otherwise. Call first thing in `main`, before any thread starts.
pub fn pin_default_device_to_cpu() {
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: called at the top of main, before any other thread exists.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
}

/// Mesa (the software GPU drivers) complains on stderr when `XDG_RUNTIME_DIR` is missing or
/// unusable, as on servers and CI. Point it at a private folder then. Call at the top of `main`.
pub fn private_runtime_dir() {
    let usable =
        std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if usable {
        return;
    }
    let dir = std::env::temp_dir().join(format!("duskmatch-runtime-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        // SAFETY: called at the top of main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}
