//! The saliency overlay on the GPU: `shaders/saliency_overlay.wgsl` through an egui wgpu
//! paint callback, the same arithmetic as the CPU path in `saliency::colormap::overlay`. An
//! offscreen render of the same pipeline lets tests compare the two pixel for pixel.

use std::collections::HashMap;
use std::sync::Arc;

use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, ScreenDescriptor};
use eframe::wgpu;

use crate::saliency::Colormap;

pub const SHADER: &str = include_str!("../../shaders/saliency_overlay.wgsl");

/// What one overlay shows.
pub struct OverlayInputs {
    pub width: u32,
    pub height: u32,
    /// RGBA8 image, row-major.
    pub rgba: Vec<u8>,
    /// One value per pixel.
    pub map: Vec<f32>,
    pub scale_max: f32,
    pub opacity: f32,
    pub cmap: Colormap,
}

fn params_bytes(i: &OverlayInputs, srgb_target: bool) -> Vec<u8> {
    let pts = i.cmap.points();
    let mut v: Vec<u8> = Vec::with_capacity(160);
    let inv = if i.scale_max > 0.0 {
        1.0 / i.scale_max
    } else {
        0.0
    };
    v.extend(inv.to_le_bytes());
    v.extend(i.opacity.to_le_bytes());
    v.extend((pts.len() as u32).to_le_bytes());
    v.extend((srgb_target as u32).to_le_bytes());
    for k in 0..9 {
        let p = pts.get(k).copied().unwrap_or([1.0, 0.0, 0.0, 0.0]);
        for x in p {
            v.extend(x.to_le_bytes());
        }
    }
    v
}

/// The compiled pipeline for one target format.
pub struct OverlayPipeline {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    srgb_target: bool,
}

impl OverlayPipeline {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("saliency overlay"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let tex_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("saliency overlay"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                tex_entry(1),
                tex_entry(2),
            ],
        });
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("saliency overlay"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("saliency overlay"),
            layout: Some(&pl),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            multiview_mask: None,
            cache: None,
        });
        Self {
            pipeline,
            layout,
            srgb_target: format.is_srgb(),
        }
    }

    /// Upload the inputs and bind them.
    pub fn bind(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        i: &OverlayInputs,
    ) -> wgpu::BindGroup {
        let size = wgpu::Extent3d {
            width: i.width,
            height: i.height,
            depth_or_array_layers: 1,
        };
        let texture = |format: wgpu::TextureFormat, bytes: &[u8], bpp: u32| {
            let t = device.create_texture(&wgpu::TextureDescriptor {
                label: Some("saliency overlay input"),
                size,
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            });
            queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &t,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                bytes,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(bpp * i.width),
                    rows_per_image: Some(i.height),
                },
                size,
            );
            t.create_view(&Default::default())
        };
        let image = texture(wgpu::TextureFormat::Rgba8Unorm, &i.rgba, 4);
        let map_bytes: Vec<u8> = i.map.iter().flat_map(|v| v.to_le_bytes()).collect();
        let map = texture(wgpu::TextureFormat::R32Float, &map_bytes, 4);
        let params = params_bytes(i, self.srgb_target);
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("saliency overlay params"),
            size: params.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        queue.write_buffer(&buffer, 0, &params);
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("saliency overlay"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: buffer.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&image),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&map),
                },
            ],
        })
    }

    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>, bind: &wgpu::BindGroup) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.draw(0..6, 0..1);
    }
}

/// Render the overlay 1:1 into an offscreen RGBA8 texture and read it back.
pub fn render_offscreen(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    i: &OverlayInputs,
) -> Result<image::RgbaImage, String> {
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let pipe = OverlayPipeline::new(device, format);
    let bind = pipe.bind(device, queue, i);
    let target = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("overlay target"),
        size: wgpu::Extent3d {
            width: i.width,
            height: i.height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let view = target.create_view(&Default::default());
    let row = (4 * i.width).div_ceil(256) * 256;
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("overlay readback"),
        size: (row * i.height) as u64,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("overlay"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                resolve_target: None,
                depth_slice: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pipe.draw(&mut pass, &bind);
    }
    enc.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture: &target,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &readback,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(row),
                rows_per_image: Some(i.height),
            },
        },
        wgpu::Extent3d {
            width: i.width,
            height: i.height,
            depth_or_array_layers: 1,
        },
    );
    queue.submit([enc.finish()]);
    let slice = readback.slice(..);
    slice.map_async(wgpu::MapMode::Read, |_| {});
    let _ = device.poll(wgpu::PollType::wait_indefinitely());
    let data = slice
        .get_mapped_range()
        .map_err(|e| format!("cannot read the overlay back: {e:?}"))?;
    let mut out = image::RgbaImage::new(i.width, i.height);
    for y in 0..i.height {
        let start = (y * row) as usize;
        out.as_mut()[(y * 4 * i.width) as usize..((y + 1) * 4 * i.width) as usize]
            .copy_from_slice(&data[start..start + (4 * i.width) as usize]);
    }
    Ok(out)
}

/// Pipelines and uploaded inputs kept by egui's renderer between frames.
pub struct OverlayResources {
    pipeline: OverlayPipeline,
    binds: HashMap<u64, wgpu::BindGroup>,
}

/// Register the pipeline with eframe's wgpu renderer (call once, at app creation).
pub fn register(render_state: &egui_wgpu::RenderState) {
    let pipeline = OverlayPipeline::new(&render_state.device, render_state.target_format);
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(OverlayResources {
            pipeline,
            binds: HashMap::new(),
        });
}

/// A paint callback drawing one overlay; `key` identifies its inputs so they upload once.
pub struct OverlayCallback {
    pub key: u64,
    pub inputs: Arc<OverlayInputs>,
}

impl CallbackTrait for OverlayCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(r) = resources.get_mut::<OverlayResources>()
            && !r.binds.contains_key(&self.key)
        {
            if r.binds.len() > 16 {
                r.binds.clear();
            }
            let bind = r.pipeline.bind(device, queue, &self.inputs);
            r.binds.insert(self.key, bind);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        if let Some(r) = resources.get::<OverlayResources>()
            && let Some(bind) = r.binds.get(&self.key)
        {
            r.pipeline.draw(pass, bind);
        }
    }
}
