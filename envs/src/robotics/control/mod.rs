//! Control tasks on rapier3d: reacher, cartpole-swingup, point-mass.
