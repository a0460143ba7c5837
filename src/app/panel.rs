//! What every panel with background work does once a frame, behind one trait (as egui's demo
//! app puts each demo behind `View`): take in what its jobs produced since the last frame,
//! never blocking, and report what went wrong to the window's notices. Data flows one way,
//! from the jobs through `poll` into the panel's own state, which its `ui` draws (as Rerun's
//! viewer drains every producer once a frame into its store).

use super::notices::Notices;

pub trait Panel {
    fn poll(&mut self, notices: &mut Notices);
}
