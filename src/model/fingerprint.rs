//! A model's identity by value: CRC32C over every float parameter's shape and values, in
//! module order. A supervised file records the fingerprint of the stage-one model it was
//! learned on, so it can refuse another model at the same step (a second run, an edited
//! file), whatever path or step label it carries.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

use super::vae::DoubleVae;
use crate::data::batch::host_f32;

struct Crc(u32);

impl ModuleVisitor for Crc {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        for d in t.dims() {
            self.0 = crc32c::crc32c_append(self.0, &(d as u64).to_le_bytes());
        }
        let bytes: Vec<u8> = host_f32(t).iter().flat_map(|v| v.to_le_bytes()).collect();
        self.0 = crc32c::crc32c_append(self.0, &bytes);
    }
}

/// `crc32c:` and eight hex digits.
pub fn fingerprint(model: &DoubleVae) -> String {
    let mut crc = Crc(0);
    model.visit(&mut crc);
    format!("crc32c:{:08x}", crc.0)
}
