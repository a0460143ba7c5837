//! The layout of one synthetic street: what stands where, in scene coordinates
//! (x across, y down, the visible frame is roughly [0, 1]², with margin for camera shifts).
//! Everything that differs between places is drawn here, once; lighting comes later.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub type Rgb = [f32; 3];

/// Scene-space x range populated with buildings, wider than the frame for viewpoint shifts.
pub const X_MIN: f32 = -0.35;
pub const X_MAX: f32 = 1.35;

pub struct WindowGrid {
    pub x0: f32,
    pub col_pitch: f32,
    pub cols: usize,
    pub y0: f32,
    pub row_pitch: f32,
    pub rows: usize,
    pub w: f32,
    pub h: f32,
    pub frame: Rgb,
    pub glass: Rgb,
    /// Per window (row-major): lit at night, and the light's colour and strength.
    pub lit: Vec<Option<Rgb>>,
}

impl WindowGrid {
    /// Which window (row, col) covers the point, if any, and the point's position inside it
    /// as fractions (0..1) of the window's width and height.
    pub fn hit(&self, x: f32, y: f32) -> Option<(usize, usize, f32, f32)> {
        let cx = (x - self.x0) / self.col_pitch;
        let cy = (y - self.y0) / self.row_pitch;
        if cx < 0.0 || cy < 0.0 {
            return None;
        }
        let (col, row) = (cx as usize, cy as usize);
        if col >= self.cols || row >= self.rows {
            return None;
        }
        let fx = (x - (self.x0 + col as f32 * self.col_pitch + (self.col_pitch - self.w) / 2.0))
            / self.w;
        let fy = (y - (self.y0 + row as f32 * self.row_pitch + (self.row_pitch - self.h) / 2.0))
            / self.h;
        ((0.0..1.0).contains(&fx) && (0.0..1.0).contains(&fy)).then_some((row, col, fx, fy))
    }
}

pub struct Door {
    pub x0: f32,
    pub x1: f32,
    pub top: f32,
    pub colour: Rgb,
    /// A lamp over the door at night.
    pub lamp: bool,
}

pub struct Shopfront {
    pub x0: f32,
    pub x1: f32,
    pub top: f32,
    pub awning: Rgb,
    pub glass: Rgb,
    pub lit: Option<Rgb>,
}

pub struct Building {
    pub x0: f32,
    pub x1: f32,
    pub top: f32,
    pub wall: Rgb,
    pub trim: Rgb,
    /// Height of a gable above `top` at the centre (0 for a flat roof with a cornice).
    pub gable: f32,
    pub windows: WindowGrid,
    pub door: Option<Door>,
    pub shop: Option<Shopfront>,
}

/// A thing standing on the pavement, drawn as a vertical profile: half-width at each height.
pub enum PropKind {
    Tree {
        trunk_h: f32,
        trunk_w: f32,
        canopy: Vec<(f32, f32, f32)>,
        leaves: Rgb,
        bark: Rgb,
    },
    Lamp {
        height: f32,
        arm: f32,
        colour: Rgb,
    },
    Hydrant {
        height: f32,
        width: f32,
        colour: Rgb,
    },
}

pub struct Prop {
    pub x: f32,
    /// Where it touches the ground (scene y); larger is nearer the camera.
    pub base: f32,
    pub kind: PropKind,
}

pub struct Cloud {
    pub x: f32,
    pub y: f32,
    pub rx: f32,
    pub ry: f32,
}

pub struct Scene {
    /// Bottom of the façades, top of the pavement.
    pub ground: f32,
    /// Where the pavement ends and the road begins.
    pub kerb: f32,
    pub pavement: Rgb,
    pub road: Rgb,
    pub lane_y: f32,
    pub lane_phase: f32,
    pub buildings: Vec<Building>,
    /// Sorted far to near (by `base`), so the nearest hit wins when scanned in reverse.
    pub props: Vec<Prop>,
    pub sky_top: Rgb,
    pub sky_horizon: Rgb,
    pub clouds: Vec<Cloud>,
    /// −1 when the sun is on the left, +1 on the right.
    pub sun_side: f32,
    /// Street-light colour at night (sodium orange or LED blue-white), also the night cast.
    pub lamp_light: Rgb,
    pub stars: Vec<(f32, f32)>,
}

fn jitter(rng: &mut ChaCha8Rng, c: Rgb, amount: f32) -> Rgb {
    c.map(|v| (v + rng.random_range(-amount..amount)).clamp(0.0, 1.0))
}

fn pick(rng: &mut ChaCha8Rng, options: &[Rgb]) -> Rgb {
    options[rng.random_range(0..options.len())]
}

const WALLS: [Rgb; 10] = [
    [0.58, 0.27, 0.20], // brick
    [0.70, 0.36, 0.26], // light brick
    [0.82, 0.72, 0.52], // sandstone
    [0.62, 0.62, 0.64], // concrete
    [0.88, 0.85, 0.74], // cream render
    [0.56, 0.66, 0.76], // pastel blue
    [0.62, 0.74, 0.60], // pastel green
    [0.86, 0.62, 0.52], // salmon
    [0.92, 0.91, 0.88], // white render
    [0.45, 0.42, 0.40], // dark stone
];

const DOORS: [Rgb; 6] = [
    [0.35, 0.20, 0.12],
    [0.55, 0.08, 0.08],
    [0.10, 0.30, 0.18],
    [0.12, 0.18, 0.40],
    [0.08, 0.08, 0.09],
    [0.60, 0.50, 0.20],
];

const AWNINGS: [Rgb; 5] = [
    [0.75, 0.12, 0.10],
    [0.10, 0.40, 0.25],
    [0.15, 0.25, 0.55],
    [0.85, 0.65, 0.10],
    [0.30, 0.30, 0.32],
];

const WINDOW_LIGHTS: [Rgb; 4] = [
    [1.00, 0.80, 0.45], // tungsten
    [1.00, 0.70, 0.35], // warm
    [0.85, 0.90, 1.00], // cool white
    [0.55, 0.65, 1.00], // television blue
];

fn building(rng: &mut ChaCha8Rng, x0: f32, x1: f32, ground: f32) -> Building {
    let top = rng.random_range(0.04..(ground - 0.22).max(0.05));
    let wall = {
        let c = pick(rng, &WALLS);
        jitter(rng, c, 0.05)
    };
    let shade = rng.random_range(0.6..0.8);
    let trim = if rng.random_bool(0.5) {
        wall.map(|v| v * shade)
    } else {
        jitter(rng, [0.9, 0.89, 0.85], 0.04)
    };
    let gable = if rng.random_bool(0.25) {
        rng.random_range(0.03..0.07)
    } else {
        0.0
    };

    // Upper floors: a regular grid of windows between the cornice and the ground floor.
    let ground_floor = rng.random_range(0.09..0.12);
    let row_pitch = rng.random_range(0.065..0.1);
    let upper_top = top + 0.03;
    let upper_bottom = ground - ground_floor;
    let rows = (((upper_bottom - upper_top) / row_pitch).floor().max(0.0)) as usize;
    let width = x1 - x0;
    let col_pitch_target = rng.random_range(0.05..0.085);
    let cols = ((width - 0.02) / col_pitch_target).floor().max(1.0) as usize;
    let col_pitch = (width - 0.02) / cols as f32;
    let p_lit = rng.random_range(0.15..0.6);
    let house_light = pick(rng, &WINDOW_LIGHTS);
    let lit = (0..rows * cols)
        .map(|_| {
            rng.random_bool(p_lit).then(|| {
                let base = if rng.random_bool(0.75) {
                    house_light
                } else {
                    pick(rng, &WINDOW_LIGHTS)
                };
                let strength = rng.random_range(0.55..1.0);
                base.map(|v| v * strength)
            })
        })
        .collect();
    let windows = WindowGrid {
        x0: x0 + 0.01,
        col_pitch,
        cols,
        y0: upper_bottom - rows as f32 * row_pitch,
        row_pitch,
        rows,
        w: col_pitch * rng.random_range(0.42..0.66),
        h: row_pitch * rng.random_range(0.48..0.7),
        frame: if rng.random_bool(0.6) {
            [0.93, 0.93, 0.9]
        } else {
            [0.15, 0.15, 0.16]
        },
        glass: jitter(rng, [0.33, 0.42, 0.52], 0.06),
        lit,
    };

    // Ground floor: a shopfront, or a door.
    let (door, shop) = if rng.random_bool(0.35) && width > 0.16 {
        let margin = rng.random_range(0.015..0.04);
        let shop = Shopfront {
            x0: x0 + margin,
            x1: x1 - margin,
            top: ground - ground_floor + rng.random_range(0.015..0.03),
            awning: {
                let c = pick(rng, &AWNINGS);
                jitter(rng, c, 0.04)
            },
            glass: jitter(rng, [0.25, 0.3, 0.34], 0.04),
            lit: rng
                .random_bool(0.55)
                .then(|| pick(rng, &WINDOW_LIGHTS[..3])),
        };
        (None, Some(shop))
    } else {
        let dw = rng.random_range(0.028..0.045);
        let dx = rng.random_range(x0 + 0.015..(x1 - 0.015 - dw).max(x0 + 0.016));
        let door = Door {
            x0: dx,
            x1: dx + dw,
            top: ground - rng.random_range(0.065f32..0.085).min(ground_floor - 0.01),
            colour: {
                let c = pick(rng, &DOORS);
                jitter(rng, c, 0.03)
            },
            lamp: rng.random_bool(0.5),
        };
        (Some(door), None)
    };
    Building {
        x0,
        x1,
        top,
        wall,
        trim,
        gable,
        windows,
        door,
        shop,
    }
}

fn tree(rng: &mut ChaCha8Rng) -> PropKind {
    let trunk_h = rng.random_range(0.08..0.14);
    let r = rng.random_range(0.045..0.085);
    let lumps = rng.random_range(3..6);
    let canopy = (0..lumps)
        .map(|i| {
            let a = i as f32 / lumps as f32 * std::f32::consts::TAU + rng.random_range(0.0..0.8);
            let d = r * rng.random_range(0.3..0.6);
            (
                a.cos() * d,
                trunk_h + r * 0.8 + a.sin() * d * 0.8,
                r * rng.random_range(0.6..0.85),
            )
        })
        .collect();
    PropKind::Tree {
        trunk_h,
        trunk_w: rng.random_range(0.006..0.011),
        canopy,
        leaves: jitter(rng, [0.20, 0.42, 0.16], 0.07),
        bark: jitter(rng, [0.30, 0.22, 0.15], 0.04),
    }
}

impl Scene {
    pub fn random(rng: &mut ChaCha8Rng) -> Scene {
        let ground = rng.random_range(0.56..0.7);
        let kerb = ground + rng.random_range(0.075..0.12);
        let pavement = jitter(rng, [0.62, 0.61, 0.58], 0.06);
        let road = jitter(rng, [0.26, 0.26, 0.27], 0.04);

        let mut buildings = Vec::new();
        let mut x = X_MIN;
        while x < X_MAX {
            let w = rng.random_range(0.14..0.36);
            buildings.push(building(rng, x, x + w, ground));
            // Occasionally an alley between buildings.
            x += w + if rng.random_bool(0.12) {
                rng.random_range(0.02..0.05)
            } else {
                0.0
            };
        }

        let mut props = Vec::new();
        for _ in 0..rng.random_range(0..=3) {
            let base = rng.random_range(ground + 0.015..kerb - 0.01);
            props.push(Prop {
                x: rng.random_range(-0.1..1.1),
                base,
                kind: tree(rng),
            });
        }
        for _ in 0..rng.random_range(1..=3) {
            props.push(Prop {
                x: rng.random_range(-0.05..1.05),
                base: kerb - rng.random_range(0.004..0.012),
                kind: PropKind::Lamp {
                    height: rng.random_range(0.24..0.34),
                    arm: rng.random_range(0.02..0.04)
                        * if rng.random_bool(0.5) { 1.0 } else { -1.0 },
                    colour: jitter(rng, [0.14, 0.16, 0.15], 0.04),
                },
            });
        }
        for _ in 0..rng.random_range(0..=2) {
            props.push(Prop {
                x: rng.random_range(0.0..1.0),
                base: kerb - rng.random_range(0.006..0.02),
                kind: PropKind::Hydrant {
                    height: rng.random_range(0.032..0.046),
                    width: rng.random_range(0.016..0.022),
                    colour: if rng.random_bool(0.7) {
                        [0.78, 0.10, 0.08]
                    } else {
                        [0.88, 0.72, 0.10]
                    },
                },
            });
        }
        props.sort_by(|a, b| a.base.total_cmp(&b.base));

        let overcast = rng.random_bool(0.25);
        let (sky_top, sky_horizon) = if overcast {
            (
                jitter(rng, [0.62, 0.66, 0.72], 0.05),
                jitter(rng, [0.82, 0.84, 0.86], 0.04),
            )
        } else {
            (
                jitter(rng, [0.30, 0.52, 0.86], 0.06),
                jitter(rng, [0.74, 0.84, 0.95], 0.04),
            )
        };
        let clouds = (0..rng.random_range(0..=4))
            .map(|_| Cloud {
                x: rng.random_range(-0.1..1.1),
                y: rng.random_range(0.02..0.25),
                rx: rng.random_range(0.06..0.16),
                ry: rng.random_range(0.02..0.05),
            })
            .collect();
        let lamp_light = if rng.random_bool(0.6) {
            jitter(rng, [1.0, 0.62, 0.28], 0.04) // sodium
        } else {
            jitter(rng, [0.72, 0.82, 1.0], 0.04) // LED
        };
        let stars = (0..rng.random_range(0..12))
            .map(|_| (rng.random_range(-0.1..1.1), rng.random_range(0.0..0.3)))
            .collect();
        Scene {
            ground,
            kerb,
            pavement,
            road,
            lane_y: kerb + (1.0 - kerb) * rng.random_range(0.5..0.65),
            lane_phase: rng.random_range(0.0..1.0),
            buildings,
            props,
            sky_top,
            sky_horizon,
            clouds,
            sun_side: if rng.random_bool(0.5) { 1.0 } else { -1.0 },
            lamp_light,
            stars,
        }
    }

    /// The building whose façade spans `x`, if any (alleys have none).
    pub fn building_at(&self, x: f32) -> Option<&Building> {
        let i = self.buildings.partition_point(|b| b.x1 <= x);
        self.buildings.get(i).filter(|b| b.x0 <= x)
    }
}
