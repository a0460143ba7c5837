// Saliency overlay: colour-map a scalar map and blend it over its image.
// Must give the same pixels as `saliency::colormap::overlay` on the CPU:
//   t = clamp(map * inv_scale, 0, 1); a = clamp(opacity * t, 0, 1);
//   out = (1 - a) * image + a * colormap(t), colormap piecewise linear over control points.
// Texels are addressed 1:1 (textureLoad) so no filtering changes the values.

struct Params {
    inv_scale: f32,
    opacity: f32,
    count: u32,
    srgb_target: u32,
    points: array<vec4<f32>, 9>,
};

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var image_tex: texture_2d<f32>;
@group(0) @binding(2) var map_tex: texture_2d<f32>;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    );
    let c = corners[index];
    var out: VertexOut;
    out.position = vec4<f32>(c.x * 2.0 - 1.0, 1.0 - c.y * 2.0, 0.0, 1.0);
    out.uv = c;
    return out;
}

fn colormap(t: f32) -> vec3<f32> {
    for (var k: u32 = 1u; k < params.count; k = k + 1u) {
        let a = params.points[k - 1u];
        let b = params.points[k];
        if (t <= b.x) {
            let f = (t - a.x) / (b.x - a.x);
            return a.yzw + f * (b.yzw - a.yzw);
        }
    }
    return params.points[params.count - 1u].yzw;
}

// The framebuffer may be sRGB-encoded by the hardware; our values are already encoded.
fn to_target(c: vec3<f32>) -> vec3<f32> {
    if (params.srgb_target == 0u) {
        return c;
    }
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let dims = vec2<f32>(textureDimensions(image_tex));
    let px = vec2<i32>(clamp(floor(in.uv * dims), vec2<f32>(0.0), dims - vec2<f32>(1.0)));
    let base = textureLoad(image_tex, px, 0).rgb;
    let t = clamp(textureLoad(map_tex, px, 0).r * params.inv_scale, 0.0, 1.0);
    let a = clamp(params.opacity * t, 0.0, 1.0);
    let c = clamp((1.0 - a) * base + a * colormap(t), vec3<f32>(0.0), vec3<f32>(1.0));
    return vec4<f32>(to_target(c), 1.0);
}
