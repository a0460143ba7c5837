//! Renders a [`Scene`] by day or by night, one ray per sub-pixel: find the surface a point
//! of the frame shows, then light it. Day: sun and sky, with cast shadows of trees, lamp posts
//! and hydrants on the pavement and up the walls. Night: dark sky, lit windows and shops,
//! street lamps with falloff, a sodium or bluish cast, sensor noise and low contrast.

use image::RgbImage;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::scene::{Building, Prop, PropKind, Rgb, Scene};

/// How the camera frames the scene: a zoom about the centre and a shift, in scene units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    pub zoom: f32,
    pub dx: f32,
    pub dy: f32,
}

impl Camera {
    pub const IDENTITY: Camera = Camera {
        zoom: 1.0,
        dx: 0.0,
        dy: 0.0,
    };

    /// A small random viewpoint change, so that a day/night match is never pixel identity.
    pub fn jittered(rng: &mut ChaCha8Rng) -> Camera {
        Camera {
            zoom: rng.random_range(1.0..1.08),
            dx: rng.random_range(-0.035..0.035),
            dy: rng.random_range(-0.015..0.015),
        }
    }

    fn to_scene(self, u: f32, v: f32) -> (f32, f32) {
        (
            0.5 + self.dx + (u - 0.5) / self.zoom,
            0.5 + self.dy + (v - 0.5) / self.zoom,
        )
    }
}

#[derive(Clone, Copy, PartialEq)]
pub enum Light {
    Day,
    Night,
    /// A low, warm sun with the street lights and windows already on (evaluation only).
    Dusk,
}

/// What a point of the frame shows before lighting.
#[derive(Clone, Copy)]
enum Surface {
    Sky,
    /// A façade point; `shade` darkens recesses (under cornices, window reveals) by day.
    Wall {
        albedo: Rgb,
        emissive: Rgb,
        shade: f32,
    },
    Ground {
        albedo: Rgb,
    },
    Prop {
        albedo: Rgb,
        emissive: Rgb,
        base: f32,
    },
}

// Shadows fall back towards the wall: per unit of object height, this far up the frame
// (foreshortened ground) and this far sideways, away from the sun.
const SHADOW_UP: f32 = 0.32;
const SHADOW_SIDE: f32 = 0.45;
// Depth (distance from the façades) per unit of frame y below the building line.
const DEPTH_PER_Y: f32 = 2.5;

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn scale(a: Rgb, s: f32) -> Rgb {
    a.map(|v| v * s)
}

fn mul(a: Rgb, b: Rgb) -> Rgb {
    [a[0] * b[0], a[1] * b[1], a[2] * b[2]]
}

fn add(a: Rgb, b: Rgb) -> Rgb {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// Whether a prop's silhouette covers horizontal offset `dx` from its axis at height `h`.
/// Also returns the albedo and night emission of the covered part.
fn prop_part(prop: &Prop, dx: f32, h: f32, lamp_light: Rgb) -> Option<(Rgb, Rgb)> {
    if h < 0.0 {
        return None;
    }
    match &prop.kind {
        PropKind::Tree {
            trunk_h,
            trunk_w,
            canopy,
            leaves,
            bark,
        } => {
            for &(cx, cy, r) in canopy {
                let (ex, ey) = (dx - cx, (h - cy) / 0.9);
                if ex * ex + ey * ey < r * r {
                    // Leaves lighter on top, a little dappled.
                    let t = 0.75
                        + 0.25 * ((h - cy) / r).clamp(-1.0, 1.0)
                        + 0.06 * ((dx * 180.0).sin() * (h * 170.0).cos());
                    return Some((scale(*leaves, t), [0.0; 3]));
                }
            }
            (h < trunk_h + 0.03 && dx.abs() < trunk_w / 2.0).then_some((*bark, [0.0; 3]))
        }
        PropKind::Lamp {
            height,
            arm,
            colour,
        } => {
            let head_x = *arm;
            let (ex, ey) = ((dx - head_x) / 0.013, (h - (height - 0.006)) / 0.006);
            if ex * ex + ey * ey < 1.0 {
                return Some(([0.85, 0.85, 0.8], scale(lamp_light, 2.2)));
            }
            let on_arm = (height - 0.004..=*height).contains(&h)
                && (dx * arm.signum()) >= 0.0
                && dx.abs() <= arm.abs();
            let on_pole = dx.abs() < 0.0032 && h <= *height;
            (on_arm || on_pole).then_some((*colour, [0.0; 3]))
        }
        PropKind::Hydrant {
            height,
            width,
            colour,
        } => {
            let body = dx.abs() < width / 2.0 && h < height * 0.8;
            let cap = {
                let (ex, ey) = (dx / (width / 2.0), (h - height * 0.8) / (width / 2.0));
                ex * ex + ey * ey < 1.0
            };
            let nozzle = (h - height * 0.55).abs() < 0.004 && dx.abs() < width * 0.8;
            (body || cap || nozzle)
                .then_some((scale(*colour, if dx < 0.0 { 0.9 } else { 1.0 }), [0.0; 3]))
        }
    }
}

fn facade(b: &Building, x: f32, y: f32, ground: f32, light: Light) -> Option<Surface> {
    let mid = (b.x0 + b.x1) / 2.0;
    let half = (b.x1 - b.x0) / 2.0;
    let roof = b.top - b.gable * (1.0 - (x - mid).abs() / half).max(0.0);
    if y < roof || y >= ground {
        return None;
    }
    let night = light == Light::Night;
    let mut albedo = b.wall;
    let mut emissive = [0.0; 3];
    let mut shade: f32 = 1.0;
    // Faint horizontal courses give walls texture.
    let course = ((y - b.top) * 260.0).fract();
    if course < 0.08 {
        albedo = scale(albedo, 0.93);
    }
    if y < b.top + 0.012 {
        return Some(Surface::Wall {
            albedo: b.trim,
            emissive,
            shade: 1.0,
        });
    }
    if y < b.top + 0.022 {
        shade = 0.68; // under the cornice
    }
    if let Some((row, col, fx, fy)) = b.windows.hit(x, y) {
        let frame =
            !(0.1..=0.9).contains(&fx) || !(0.08..=0.92).contains(&fy) || (fx - 0.5).abs() < 0.04;
        if frame {
            albedo = b.windows.frame;
        } else {
            albedo = b.windows.glass;
            if night && let Some(c) = b.windows.lit[row * b.windows.cols + col] {
                // Curtains make the light uneven across the pane.
                let falloff = 0.75 + 0.25 * (1.0 - (fy - 0.45).abs() * 2.0);
                emissive = scale(c, falloff);
            } else {
                // Sky reflected in the upper pane.
                albedo = mix(albedo, [0.7, 0.78, 0.86], (1.0 - fy) * 0.35);
            }
        }
        if fy < 0.18 {
            shade = shade.min(0.55); // reveal shadow under the lintel
        }
    }
    if let Some(shop) = &b.shop
        && (shop.x0..shop.x1).contains(&x)
        && y >= shop.top
    {
        let awning_h = 0.014;
        if y < shop.top + awning_h {
            let stripe = ((x - shop.x0) * 90.0).fract() < 0.5;
            albedo = if stripe {
                shop.awning
            } else {
                mix(shop.awning, [0.95; 3], 0.7)
            };
        } else {
            let frame =
                ((x - shop.x0) / (shop.x1 - shop.x0) * 4.0).fract() < 0.03 || y > ground - 0.012;
            albedo = if frame { b.trim } else { shop.glass };
            if !frame
                && night
                && let Some(c) = shop.lit
            {
                emissive = scale(c, 0.9);
            }
            if y < shop.top + awning_h + 0.012 {
                shade = shade.min(0.5); // the awning's shadow
            }
        }
    }
    if let Some(door) = &b.door {
        if (door.x0..door.x1).contains(&x) && y >= door.top {
            let panel =
                ((x - door.x0) / (door.x1 - door.x0) - 0.5).abs() < 0.38 && y > door.top + 0.008;
            albedo = if panel {
                door.colour
            } else {
                scale(door.colour, 0.75)
            };
            shade = shade.min(0.8);
        }
        if night && door.lamp {
            let (ex, ey) = (
                (x - (door.x0 + door.x1) / 2.0) / 0.006,
                (y - (door.top - 0.01)) / 0.005,
            );
            if ex * ex + ey * ey < 1.0 {
                emissive = [1.6, 1.3, 0.8];
            }
        }
    }
    Some(Surface::Wall {
        albedo,
        emissive,
        shade,
    })
}

fn surface(scene: &Scene, x: f32, y: f32, light: Light) -> Surface {
    for prop in scene.props.iter().rev() {
        if let Some((albedo, emissive)) =
            prop_part(prop, x - prop.x, prop.base - y, scene.lamp_light)
        {
            return Surface::Prop {
                albedo,
                emissive,
                base: prop.base,
            };
        }
    }
    if y >= scene.ground {
        if y < scene.kerb {
            let kerb_stone = y > scene.kerb - 0.006;
            let slab = ((x * 22.0).fract() < 0.04) || (((y - scene.ground) * 60.0).fract() < 0.06);
            let albedo = if kerb_stone {
                scale(scene.pavement, 1.12)
            } else if slab {
                scale(scene.pavement, 0.88)
            } else {
                scene.pavement
            };
            return Surface::Ground { albedo };
        }
        let dash = (x * 7.0 + scene.lane_phase).fract() < 0.55;
        let marking = (y - scene.lane_y).abs() < 0.006 && dash;
        let grain = 1.0 + 0.04 * ((x * 310.0).sin() * (y * 290.0).cos());
        let albedo = if marking {
            [0.9, 0.88, 0.8]
        } else {
            scale(scene.road, grain)
        };
        return Surface::Ground { albedo };
    }
    if let Some(b) = scene.building_at(x)
        && let Some(s) = facade(b, x, y, scene.ground, light)
    {
        return s;
    }
    Surface::Sky
}

/// Fraction of sunlight reaching a point (1 = full sun), from every prop's cast shadow.
fn sunlit(scene: &Scene, x: f32, y: f32, on_wall: bool) -> f32 {
    let side = -scene.sun_side * SHADOW_SIDE;
    for prop in &scene.props {
        let (h, shift) = if on_wall {
            let t_ground = (prop.base - scene.ground) / SHADOW_UP;
            (
                t_ground + (scene.ground - y),
                t_ground * side + (scene.ground - y) * side * 0.3,
            )
        } else {
            if y > prop.base {
                continue;
            }
            let t = (prop.base - y) / SHADOW_UP;
            (t, t * side)
        };
        if prop_part(prop, x - shift - prop.x, h, scene.lamp_light).is_some() {
            return 0.0;
        }
    }
    1.0
}

struct PointLight {
    pos: [f32; 3],
    colour: Rgb,
    power: f32,
}

/// Street lamps, door lamps and lit shops, in world coordinates (x, height, depth).
fn night_lights(scene: &Scene) -> Vec<PointLight> {
    let mut lights = Vec::new();
    for p in &scene.props {
        if let PropKind::Lamp { height, arm, .. } = p.kind {
            lights.push(PointLight {
                pos: [
                    p.x + arm,
                    height - 0.008,
                    (p.base - scene.ground) * DEPTH_PER_Y,
                ],
                colour: scene.lamp_light,
                power: 1.0,
            });
        }
    }
    for b in &scene.buildings {
        if let Some(d) = b.door.as_ref().filter(|d| d.lamp) {
            lights.push(PointLight {
                pos: [(d.x0 + d.x1) / 2.0, scene.ground - d.top + 0.01, 0.02],
                colour: [1.0, 0.8, 0.5],
                power: 0.25,
            });
        }
        if let Some((s, c)) = b.shop.as_ref().and_then(|s| s.lit.map(|c| (s, c))) {
            lights.push(PointLight {
                pos: [(s.x0 + s.x1) / 2.0, 0.04, 0.03],
                colour: c,
                power: 0.45,
            });
        }
    }
    lights
}

fn world(scene: &Scene, s: &Surface, x: f32, y: f32) -> ([f32; 3], [f32; 3]) {
    // Position and surface normal (x, height, depth).
    match s {
        Surface::Ground { .. } => ([x, 0.0, (y - scene.ground) * DEPTH_PER_Y], [0.0, 1.0, 0.0]),
        Surface::Prop { base, .. } => (
            [x, base - y, (base - scene.ground) * DEPTH_PER_Y],
            [0.0, 0.3, 1.0],
        ),
        _ => ([x, scene.ground - y, 0.0], [0.0, 0.0, 1.0]),
    }
}

fn irradiance(lights: &[PointLight], pos: [f32; 3], normal: [f32; 3]) -> Rgb {
    let mut e = [0.0; 3];
    for l in lights {
        let d = [l.pos[0] - pos[0], l.pos[1] - pos[1], l.pos[2] - pos[2]];
        let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        let dist = d2.sqrt().max(1e-4);
        let cos = ((d[0] * normal[0] + d[1] * normal[1] + d[2] * normal[2]) / dist).max(0.0);
        // Inverse square, softened near the source so a lamp's own wall does not burn out.
        let k = l.power * (0.25 + 0.75 * cos) * 0.03 / (d2 + 0.01);
        e = add(e, scale(l.colour, k));
    }
    e
}

/// Linear radiance of one point of the frame.
fn shade_point(scene: &Scene, lights: &[PointLight], x: f32, y: f32, light: Light) -> Rgb {
    let s = surface(scene, x, y, light);
    match light {
        Light::Day => {
            let sun = [1.0, 0.97, 0.9];
            let sky_fill = mix(scene.sky_horizon, [1.0; 3], 0.3);
            match s {
                Surface::Sky => {
                    let t = (y / scene.ground).clamp(0.0, 1.0);
                    let mut c = mix(scene.sky_top, scene.sky_horizon, t.powf(0.7));
                    for cl in &scene.clouds {
                        let (ex, ey) = ((x - cl.x) / cl.rx, (y - cl.y) / cl.ry);
                        let r = ex * ex + ey * ey;
                        if r < 1.0 {
                            c = mix(c, [0.97, 0.97, 0.98], (1.0 - r).powf(0.6) * 0.85);
                        }
                    }
                    c
                }
                Surface::Wall { albedo, shade, .. } => {
                    let lit = sunlit(scene, x, y, true) * shade;
                    mul(albedo, add(scale(sun, 0.78 * lit), scale(sky_fill, 0.3)))
                }
                Surface::Ground { albedo } => {
                    let lit = sunlit(scene, x, y, false);
                    mul(albedo, add(scale(sun, 0.8 * lit), scale(sky_fill, 0.28)))
                }
                Surface::Prop { albedo, .. } => {
                    let side = if (x * scene.sun_side) > 0.0 { 1.0 } else { 0.9 };
                    mul(albedo, add(scale(sun, 0.72 * side), scale(sky_fill, 0.3)))
                }
            }
        }
        Light::Dusk => {
            let day = shade_point(scene, lights, x, y, Light::Day);
            let night = shade_point(scene, lights, x, y, Light::Night);
            if let Surface::Sky = surface(scene, x, y, Light::Night) {
                // Deep blue overhead to orange at the horizon.
                let t = (y / scene.ground).clamp(0.0, 1.0);
                return mix([0.10, 0.12, 0.30], [0.95, 0.52, 0.28], t.powf(1.6));
            }
            add(scale(mul(day, [1.0, 0.7, 0.48]), 0.32), scale(night, 0.85))
        }
        Light::Night => {
            let ambient = scale(mix([0.5, 0.55, 0.8], scene.lamp_light, 0.4), 0.07);
            match s {
                Surface::Sky => {
                    let t = (y / scene.ground).clamp(0.0, 1.0);
                    // Urban sky glow: the lamps' colour lights the haze near the horizon, so
                    // rooftops stand out against the sky as they do in a real city at night.
                    let glow = scale(scene.lamp_light, 0.16 * t * t);
                    let mut c = add(mix([0.008, 0.012, 0.035], [0.05, 0.05, 0.08], t), glow);
                    for &(sx, sy) in &scene.stars {
                        let d2 = (x - sx).powi(2) + (y - sy).powi(2);
                        if d2 < 0.0025f32.powi(2) {
                            c = add(c, [0.5, 0.5, 0.55]);
                        }
                    }
                    c
                }
                Surface::Wall {
                    albedo, emissive, ..
                }
                | Surface::Prop {
                    albedo, emissive, ..
                } => {
                    let (pos, n) = world(scene, &s, x, y);
                    add(
                        mul(albedo, add(ambient, irradiance(lights, pos, n))),
                        emissive,
                    )
                }
                Surface::Ground { albedo } => {
                    let (pos, n) = world(scene, &s, x, y);
                    mul(albedo, add(ambient, irradiance(lights, pos, n)))
                }
            }
        }
    }
}

/// Halos around light sources, added in frame space (glare in the lens).
fn bloom(scene: &Scene, x: f32, y: f32) -> Rgb {
    let mut c = [0.0; 3];
    for p in &scene.props {
        if let PropKind::Lamp { height, arm, .. } = p.kind {
            let (hx, hy) = (p.x + arm, p.base - height + 0.006);
            let d2 = (x - hx).powi(2) + ((y - hy) * 1.2).powi(2);
            let k = 0.5 * (-d2 / 0.0006).exp() + 0.12 * (-d2.sqrt() / 0.05).exp();
            c = add(c, scale(scene.lamp_light, k));
        }
    }
    c
}

/// Render the scene at `size`×`size` through `camera`, 2×2 supersampled. `rng` feeds the
/// night's sensor noise only.
pub fn render(
    scene: &Scene,
    camera: Camera,
    size: u32,
    light: Light,
    rng: &mut ChaCha8Rng,
) -> RgbImage {
    quantise(&render_linear(scene, camera, size, light, rng), size)
}

/// [`render`] before the tone curve and quantisation: `size`² values, row by row, where
/// evaluation-only conditions are laid over the frame.
pub fn render_linear(
    scene: &Scene,
    camera: Camera,
    size: u32,
    light: Light,
    rng: &mut ChaCha8Rng,
) -> Vec<Rgb> {
    let lights = if light != Light::Day {
        night_lights(scene)
    } else {
        Vec::new()
    };
    let exposure: f32 = if light == Light::Day {
        rng.random_range(0.92..1.08)
    } else {
        1.0
    };
    let noise = Normal::new(0.0f32, 1.0).expect("unit normal");
    let sigma = rng.random_range(0.018..0.035);
    let (black, gain) = (rng.random_range(0.03..0.06), rng.random_range(0.7..0.85));
    let cast = mix([1.0; 3], scene.lamp_light, 0.15);
    let n = size as f32;
    const SUB: [(f32, f32); 4] = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)];
    let mut frame = Vec::with_capacity((size * size) as usize);
    for py in 0..size {
        for px in 0..size {
            let mut c = [0.0; 3];
            for (sx, sy) in SUB {
                let (x, y) = camera.to_scene((px as f32 + sx) / n, (py as f32 + sy) / n);
                c = add(c, shade_point(scene, &lights, x, y, light));
            }
            c = scale(c, 0.25);
            let (cx, cy) = camera.to_scene((px as f32 + 0.5) / n, (py as f32 + 0.5) / n);
            let out = match light {
                Light::Day => scale(c, exposure),
                Light::Night => {
                    let c = mul(add(c, bloom(scene, cx, cy)), cast);
                    let grain = noise.sample(rng) * sigma * 0.5;
                    c.map(|v| black + gain * v.min(1.2) + grain + noise.sample(rng) * sigma)
                }
                Light::Dusk => {
                    let c = add(c, scale(bloom(scene, cx, cy), 0.5));
                    c.map(|v| 0.5 * black + v.min(1.2) + noise.sample(rng) * sigma * 0.6)
                }
            };
            frame.push(out);
        }
    }
    frame
}

/// The tone curve and 8-bit quantisation of a linear frame.
pub fn quantise(frame: &[Rgb], size: u32) -> RgbImage {
    let q = |v: f32| (v.clamp(0.0, 1.0).powf(1.0 / 1.1) * 255.0).round() as u8;
    let mut img = RgbImage::new(size, size);
    for (i, out) in frame.iter().enumerate() {
        let (px, py) = (i as u32 % size, i as u32 / size);
        img.put_pixel(px, py, image::Rgb([q(out[0]), q(out[1]), q(out[2])]));
    }
    img
}

/// The frame row (0–1) where `camera` sees the façades' foot.
pub fn ground_row(scene: &Scene, camera: Camera) -> f32 {
    (0.5 + (scene.ground - 0.5 - camera.dy) * camera.zoom).clamp(0.0, 1.0)
}
