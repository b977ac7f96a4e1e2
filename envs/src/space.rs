//! Gymnasium spaces: `Box`, `Discrete`, `MultiDiscrete`, `MultiBinary`, `Tuple` and `Dict`.
//!
//! A [`Space`] describes the set of valid observations or actions. Elements are [`Value`]s in the
//! owned layer. On the hot path, environments exchange elements in the **packed** layout: a flat
//! `[f64]` slice with one slot per scalar (a `Discrete` element is one slot holding its integer,
//! a `Box` of shape (2, 3) is six slots, row-major; `Tuple` and `Dict` concatenate their parts in
//! order). [`Space::pack`] and [`Space::unpack`] convert between the two.
//!
//! The **flattened** layout ([`Space::flatten`], [`Space::flatdim`]) is Gymnasium's
//! `gymnasium.spaces.flatten`: discrete parts become one-hot vectors. Use it for network inputs.

use std::fmt;

use rand::Rng;
use rand_distr_lite::{exponential, standard_normal};
use serde::{Deserialize, Serialize};

/// Element type of a [`BoxSpace`]. Packed values are always `f64`; an `F32` box holds values that
/// are exactly representable as `f32` (samples are rounded to `f32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit float, as Gymnasium's `np.float32`.
    F32,
    /// 64-bit float.
    F64,
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
        })
    }
}

/// A (possibly unbounded) box in R^n: `low[i] <= x[i] <= high[i]`, with a shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxSpace {
    /// Per-dimension lower bounds (row-major, `-inf` for unbounded).
    pub low: Vec<f64>,
    /// Per-dimension upper bounds (row-major, `+inf` for unbounded).
    pub high: Vec<f64>,
    /// Shape; the product of its entries equals `low.len()`.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
}

/// The integers `start, start + 1, ..., start + n - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discrete {
    /// Number of elements (at least 1).
    pub n: u64,
    /// Smallest element.
    pub start: i64,
}

/// A vector of independent discrete choices; component `i` lies in `0..nvec[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiDiscrete {
    /// Number of choices per component.
    pub nvec: Vec<u64>,
}

/// A vector of `n` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiBinary {
    /// Number of bits.
    pub n: usize,
}

/// A Gymnasium space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Space {
    /// Continuous box.
    Box(BoxSpace),
    /// Finite set of integers.
    Discrete(Discrete),
    /// Vector of finite sets.
    MultiDiscrete(MultiDiscrete),
    /// Vector of bits.
    MultiBinary(MultiBinary),
    /// Ordered product of spaces.
    Tuple {
        /// The component spaces.
        spaces: Vec<Space>,
    },
    /// Named product of spaces; keys are kept sorted, as Gymnasium does.
    Dict {
        /// `(key, space)` pairs, sorted by key.
        spaces: Vec<(String, Space)>,
    },
}

/// An element of a [`Space`] (the owned layer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// Element of a `Discrete` space.
    Discrete(i64),
    /// Element of a `Box` space (row-major).
    Box(Vec<f64>),
    /// Element of a `MultiDiscrete` space.
    MultiDiscrete(Vec<i64>),
    /// Element of a `MultiBinary` space (each entry 0 or 1).
    MultiBinary(Vec<u8>),
    /// Element of a `Tuple` space.
    Tuple(Vec<Value>),
    /// Element of a `Dict` space, keys in the space's order.
    Dict(Vec<(String, Value)>),
}

/// Errors of space construction and conversion.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpaceError {
    /// Bounds or shape are inconsistent.
    #[error("invalid space: {0}")]
    Invalid(String),
    /// A value or slice does not fit the space.
    #[error("value does not fit {space}: {reason}")]
    Mismatch {
        /// The space, as displayed.
        space: String,
        /// What is wrong.
        reason: String,
    },
}

impl Space {
    /// A box with the same bounds in every dimension.
    pub fn uniform_box(low: f64, high: f64, shape: &[usize], dtype: DType) -> Space {
        let n = shape.iter().product();
        Space::Box(BoxSpace { low: vec![low; n], high: vec![high; n], shape: shape.to_vec(), dtype })
    }

    /// A 1-D box with per-dimension bounds. Errors if lengths differ or `low > high`.
    pub fn box_from_bounds(low: Vec<f64>, high: Vec<f64>, dtype: DType) -> Result<Space, SpaceError> {
        let shape = vec![low.len()];
        Space::box_with_shape(low, high, shape, dtype)
    }

    /// A box with explicit shape. Errors if sizes disagree, a bound is NaN, or `low > high`.
    pub fn box_with_shape(
        low: Vec<f64>,
        high: Vec<f64>,
        shape: Vec<usize>,
        dtype: DType,
    ) -> Result<Space, SpaceError> {
        let n: usize = shape.iter().product();
        if low.len() != n || high.len() != n {
            return Err(SpaceError::Invalid(format!(
                "shape {shape:?} has {n} elements but low has {} and high {}",
                low.len(),
                high.len()
            )));
        }
        for (i, (l, h)) in low.iter().zip(&high).enumerate() {
            if l.is_nan() || h.is_nan() || l > h {
                return Err(SpaceError::Invalid(format!("dimension {i}: low {l} > high {h} or NaN")));
            }
        }
        Ok(Space::Box(BoxSpace { low, high, shape, dtype }))
    }

    /// `Discrete(n)` starting at 0.
    pub fn discrete(n: u64) -> Space {
        Space::Discrete(Discrete { n, start: 0 })
    }

    /// A dict space; keys are sorted.
    pub fn dict(mut spaces: Vec<(String, Space)>) -> Space {
        spaces.sort_by(|a, b| a.0.cmp(&b.0));
        Space::Dict { spaces }
    }

    /// Number of `f64` slots of an element in the packed layout.
    pub fn packed_len(&self) -> usize {
        match self {
            Space::Box(b) => b.low.len(),
            Space::Discrete(_) => 1,
            Space::MultiDiscrete(m) => m.nvec.len(),
            Space::MultiBinary(m) => m.n,
            Space::Tuple { spaces } => spaces.iter().map(Space::packed_len).sum(),
            Space::Dict { spaces } => spaces.iter().map(|(_, s)| s.packed_len()).sum(),
        }
    }

    /// Length of Gymnasium's flattened representation (`gymnasium.spaces.flatdim`).
    pub fn flatdim(&self) -> usize {
        match self {
            Space::Box(b) => b.low.len(),
            Space::Discrete(d) => d.n as usize,
            Space::MultiDiscrete(m) => m.nvec.iter().map(|&n| n as usize).sum(),
            Space::MultiBinary(m) => m.n,
            Space::Tuple { spaces } => spaces.iter().map(Space::flatdim).sum(),
            Space::Dict { spaces } => spaces.iter().map(|(_, s)| s.flatdim()).sum(),
        }
    }

    /// Whether every part is bounded (Box bounds finite); discrete parts always are.
    pub fn is_bounded(&self) -> bool {
        match self {
            Space::Box(b) => b.low.iter().chain(&b.high).all(|v| v.is_finite()),
            Space::Tuple { spaces } => spaces.iter().all(Space::is_bounded),
            Space::Dict { spaces } => spaces.iter().all(|(_, s)| s.is_bounded()),
            _ => true,
        }
    }

    /// Whether `value` is an element of this space.
    pub fn contains(&self, value: &Value) -> bool {
        match (self, value) {
            (Space::Box(b), Value::Box(v)) => b.contains_slice(v),
            (Space::Discrete(d), Value::Discrete(x)) => d.contains(*x),
            (Space::MultiDiscrete(m), Value::MultiDiscrete(v)) => {
                v.len() == m.nvec.len() && v.iter().zip(&m.nvec).all(|(&x, &n)| x >= 0 && (x as u64) < n)
            }
            (Space::MultiBinary(m), Value::MultiBinary(v)) => v.len() == m.n && v.iter().all(|&b| b <= 1),
            (Space::Tuple { spaces }, Value::Tuple(vs)) => {
                vs.len() == spaces.len() && spaces.iter().zip(vs).all(|(s, v)| s.contains(v))
            }
            (Space::Dict { spaces }, Value::Dict(vs)) => {
                vs.len() == spaces.len()
                    && spaces.iter().all(|(k, s)| vs.iter().any(|(vk, v)| vk == k && s.contains(v)))
            }
            _ => false,
        }
    }

    /// Whether a packed slice is an element of this space. Allocation-free.
    pub fn contains_packed(&self, packed: &[f64]) -> bool {
        if packed.len() != self.packed_len() {
            return false;
        }
        self.contains_packed_prefix(packed)
    }

    fn contains_packed_prefix(&self, p: &[f64]) -> bool {
        match self {
            Space::Box(b) => b.contains_slice(&p[..b.low.len()]),
            Space::Discrete(d) => is_integer(p[0]) && d.contains(p[0] as i64),
            Space::MultiDiscrete(m) => {
                p.iter().zip(&m.nvec).all(|(&x, &n)| is_integer(x) && x >= 0.0 && (x as u64) < n)
            }
            Space::MultiBinary(m) => p[..m.n].iter().all(|&x| x == 0.0 || x == 1.0),
            Space::Tuple { spaces } => {
                let mut off = 0;
                spaces.iter().all(|s| {
                    let n = s.packed_len();
                    let ok = s.contains_packed_prefix(&p[off..off + n]);
                    off += n;
                    ok
                })
            }
            Space::Dict { spaces } => {
                let mut off = 0;
                spaces.iter().all(|(_, s)| {
                    let n = s.packed_len();
                    let ok = s.contains_packed_prefix(&p[off..off + n]);
                    off += n;
                    ok
                })
            }
        }
    }

    /// A random element, Gymnasium's `Space.sample()`: uniform for bounded boxes and discrete parts;
    /// for a box dimension unbounded on both sides a standard normal, bounded on one side a shifted
    /// exponential.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Value {
        let mut packed = vec![0.0; self.packed_len()];
        self.sample_packed(rng, &mut packed);
        self.unpack(&packed).expect("sampled packed value fits its space")
    }

    /// Writes a random element in the packed layout into `out` (`out.len() == packed_len()`).
    /// Allocation-free.
    pub fn sample_packed<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        match self {
            Space::Box(b) => {
                for (o, (&l, &h)) in out.iter_mut().zip(b.low.iter().zip(&b.high)) {
                    let x = match (l.is_finite(), h.is_finite()) {
                        (true, true) => {
                            if l == h {
                                l
                            } else {
                                l + (h - l) * rng.random::<f64>()
                            }
                        }
                        (false, false) => standard_normal(rng),
                        (true, false) => l + exponential(rng),
                        (false, true) => h - exponential(rng),
                    };
                    *o = match b.dtype {
                        DType::F32 => (x as f32 as f64).clamp(l, h),
                        DType::F64 => x,
                    };
                }
            }
            Space::Discrete(d) => out[0] = (d.start + rng.random_range(0..d.n) as i64) as f64,
            Space::MultiDiscrete(m) => {
                for (o, &n) in out.iter_mut().zip(&m.nvec) {
                    *o = rng.random_range(0..n) as f64;
                }
            }
            Space::MultiBinary(m) => {
                for o in out[..m.n].iter_mut() {
                    *o = if rng.random::<bool>() { 1.0 } else { 0.0 };
                }
            }
            Space::Tuple { spaces } => {
                let mut off = 0;
                for s in spaces {
                    let n = s.packed_len();
                    s.sample_packed(rng, &mut out[off..off + n]);
                    off += n;
                }
            }
            Space::Dict { spaces } => {
                let mut off = 0;
                for (_, s) in spaces {
                    let n = s.packed_len();
                    s.sample_packed(rng, &mut out[off..off + n]);
                    off += n;
                }
            }
        }
    }

    /// Writes `value` in the packed layout into `out`.
    pub fn pack(&self, value: &Value, out: &mut [f64]) -> Result<(), SpaceError> {
        if out.len() != self.packed_len() {
            return Err(self.mismatch(format!(
                "buffer has {} slots, space needs {}",
                out.len(),
                self.packed_len()
            )));
        }
        self.pack_prefix(value, out)
    }

    fn pack_prefix(&self, value: &Value, out: &mut [f64]) -> Result<(), SpaceError> {
        match (self, value) {
            (Space::Box(b), Value::Box(v)) if v.len() == b.low.len() => out[..v.len()].copy_from_slice(v),
            (Space::Discrete(_), Value::Discrete(x)) => out[0] = *x as f64,
            (Space::MultiDiscrete(m), Value::MultiDiscrete(v)) if v.len() == m.nvec.len() => {
                for (o, &x) in out.iter_mut().zip(v) {
                    *o = x as f64;
                }
            }
            (Space::MultiBinary(m), Value::MultiBinary(v)) if v.len() == m.n => {
                for (o, &x) in out.iter_mut().zip(v) {
                    *o = x as f64;
                }
            }
            (Space::Tuple { spaces }, Value::Tuple(vs)) if vs.len() == spaces.len() => {
                let mut off = 0;
                for (s, v) in spaces.iter().zip(vs) {
                    let n = s.packed_len();
                    s.pack_prefix(v, &mut out[off..off + n])?;
                    off += n;
                }
            }
            (Space::Dict { spaces }, Value::Dict(vs)) if vs.len() == spaces.len() => {
                let mut off = 0;
                for (k, s) in spaces {
                    let v = vs
                        .iter()
                        .find(|(vk, _)| vk == k)
                        .map(|(_, v)| v)
                        .ok_or_else(|| self.mismatch(format!("missing key {k:?}")))?;
                    let n = s.packed_len();
                    s.pack_prefix(v, &mut out[off..off + n])?;
                    off += n;
                }
            }
            _ => return Err(self.mismatch(format!("cannot pack {value:?}"))),
        }
        Ok(())
    }

    /// Reads an element from the packed layout. Discrete slots must hold integers.
    pub fn unpack(&self, packed: &[f64]) -> Result<Value, SpaceError> {
        if packed.len() != self.packed_len() {
            return Err(self.mismatch(format!(
                "slice has {} slots, space needs {}",
                packed.len(),
                self.packed_len()
            )));
        }
        self.unpack_prefix(packed)
    }

    fn unpack_prefix(&self, p: &[f64]) -> Result<Value, SpaceError> {
        let int = |x: f64| -> Result<i64, SpaceError> {
            if is_integer(x) { Ok(x as i64) } else { Err(self.mismatch(format!("{x} is not an integer"))) }
        };
        Ok(match self {
            Space::Box(b) => Value::Box(p[..b.low.len()].to_vec()),
            Space::Discrete(_) => Value::Discrete(int(p[0])?),
            Space::MultiDiscrete(m) => {
                Value::MultiDiscrete(p[..m.nvec.len()].iter().map(|&x| int(x)).collect::<Result<_, _>>()?)
            }
            Space::MultiBinary(m) => Value::MultiBinary(
                p[..m.n]
                    .iter()
                    .map(|&x| match x {
                        0.0 => Ok(0u8),
                        1.0 => Ok(1u8),
                        _ => Err(self.mismatch(format!("{x} is not a bit"))),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Space::Tuple { spaces } => {
                let mut off = 0;
                let mut vs = Vec::with_capacity(spaces.len());
                for s in spaces {
                    let n = s.packed_len();
                    vs.push(s.unpack_prefix(&p[off..off + n])?);
                    off += n;
                }
                Value::Tuple(vs)
            }
            Space::Dict { spaces } => {
                let mut off = 0;
                let mut vs = Vec::with_capacity(spaces.len());
                for (k, s) in spaces {
                    let n = s.packed_len();
                    vs.push((k.clone(), s.unpack_prefix(&p[off..off + n])?));
                    off += n;
                }
                Value::Dict(vs)
            }
        })
    }

    /// Gymnasium's `flatten(space, x)`: boxes as-is (row-major), discrete parts one-hot,
    /// multi-binary as 0/1, tuples and dicts concatenated.
    pub fn flatten(&self, value: &Value) -> Result<Vec<f64>, SpaceError> {
        if !self.contains(value) {
            return Err(self.mismatch(format!("{value:?} is not in the space")));
        }
        let mut out = vec![0.0; self.flatdim()];
        self.flatten_into(value, &mut out);
        Ok(out)
    }

    fn flatten_into(&self, value: &Value, out: &mut [f64]) {
        match (self, value) {
            (Space::Box(_), Value::Box(v)) => out.copy_from_slice(v),
            (Space::Discrete(d), Value::Discrete(x)) => out[(x - d.start) as usize] = 1.0,
            (Space::MultiDiscrete(m), Value::MultiDiscrete(v)) => {
                let mut off = 0;
                for (&x, &n) in v.iter().zip(&m.nvec) {
                    out[off + x as usize] = 1.0;
                    off += n as usize;
                }
            }
            (Space::MultiBinary(_), Value::MultiBinary(v)) => {
                for (o, &x) in out.iter_mut().zip(v) {
                    *o = x as f64;
                }
            }
            (Space::Tuple { spaces }, Value::Tuple(vs)) => {
                let mut off = 0;
                for (s, v) in spaces.iter().zip(vs) {
                    let n = s.flatdim();
                    s.flatten_into(v, &mut out[off..off + n]);
                    off += n;
                }
            }
            (Space::Dict { spaces }, Value::Dict(vs)) => {
                let mut off = 0;
                for (k, s) in spaces {
                    let v = &vs.iter().find(|(vk, _)| vk == k).expect("checked by contains").1;
                    let n = s.flatdim();
                    s.flatten_into(v, &mut out[off..off + n]);
                    off += n;
                }
            }
            _ => unreachable!("checked by contains"),
        }
    }

    /// Gymnasium's `unflatten(space, x)`, the inverse of [`Space::flatten`]. One-hot parts must
    /// have exactly one 1.
    pub fn unflatten(&self, flat: &[f64]) -> Result<Value, SpaceError> {
        if flat.len() != self.flatdim() {
            return Err(self.mismatch(format!(
                "flat vector has {} entries, space needs {}",
                flat.len(),
                self.flatdim()
            )));
        }
        self.unflatten_prefix(flat)
    }

    fn unflatten_prefix(&self, f: &[f64]) -> Result<Value, SpaceError> {
        let one_hot = |part: &[f64]| -> Result<usize, SpaceError> {
            let ones: Vec<usize> =
                part.iter().enumerate().filter(|(_, x)| **x != 0.0).map(|(i, _)| i).collect();
            match ones.as_slice() {
                [i] if part[*i] == 1.0 => Ok(*i),
                _ => Err(self.mismatch(format!("{part:?} is not one-hot"))),
            }
        };
        Ok(match self {
            Space::Box(b) => Value::Box(f[..b.low.len()].to_vec()),
            Space::Discrete(d) => Value::Discrete(d.start + one_hot(&f[..d.n as usize])? as i64),
            Space::MultiDiscrete(m) => {
                let mut off = 0;
                let mut v = Vec::with_capacity(m.nvec.len());
                for &n in &m.nvec {
                    v.push(one_hot(&f[off..off + n as usize])? as i64);
                    off += n as usize;
                }
                Value::MultiDiscrete(v)
            }
            Space::MultiBinary(_) => self.unpack_prefix(f)?,
            Space::Tuple { spaces } => {
                let mut off = 0;
                let mut vs = Vec::with_capacity(spaces.len());
                for s in spaces {
                    let n = s.flatdim();
                    vs.push(s.unflatten_prefix(&f[off..off + n])?);
                    off += n;
                }
                Value::Tuple(vs)
            }
            Space::Dict { spaces } => {
                let mut off = 0;
                let mut vs = Vec::with_capacity(spaces.len());
                for (k, s) in spaces {
                    let n = s.flatdim();
                    vs.push((k.clone(), s.unflatten_prefix(&f[off..off + n])?));
                    off += n;
                }
                Value::Dict(vs)
            }
        })
    }

    /// Gymnasium's `flatten_space`: the box that holds flattened elements.
    pub fn flatten_space(&self) -> Space {
        let mut low = Vec::with_capacity(self.flatdim());
        let mut high = Vec::with_capacity(self.flatdim());
        let mut dtype = DType::F32;
        self.flat_bounds(&mut low, &mut high, &mut dtype);
        let n = low.len();
        Space::Box(BoxSpace { low, high, shape: vec![n], dtype })
    }

    fn flat_bounds(&self, low: &mut Vec<f64>, high: &mut Vec<f64>, dtype: &mut DType) {
        match self {
            Space::Box(b) => {
                low.extend_from_slice(&b.low);
                high.extend_from_slice(&b.high);
                if b.dtype == DType::F64 {
                    *dtype = DType::F64;
                }
            }
            Space::Tuple { spaces } => spaces.iter().for_each(|s| s.flat_bounds(low, high, dtype)),
            Space::Dict { spaces } => spaces.iter().for_each(|(_, s)| s.flat_bounds(low, high, dtype)),
            other => {
                let n = other.flatdim();
                low.extend(std::iter::repeat_n(0.0, n));
                high.extend(std::iter::repeat_n(1.0, n));
            }
        }
    }

    /// Validates internal consistency (shape size, bounds order, non-empty discrete sets).
    pub fn validate(&self) -> Result<(), SpaceError> {
        match self {
            Space::Box(b) => {
                Space::box_with_shape(b.low.clone(), b.high.clone(), b.shape.clone(), b.dtype).map(|_| ())
            }
            Space::Discrete(d) if d.n == 0 => Err(SpaceError::Invalid("Discrete(0) is empty".into())),
            Space::MultiDiscrete(m) if m.nvec.contains(&0) => {
                Err(SpaceError::Invalid("MultiDiscrete with a zero entry is empty".into()))
            }
            Space::Tuple { spaces } => spaces.iter().try_for_each(Space::validate),
            Space::Dict { spaces } => spaces.iter().try_for_each(|(_, s)| s.validate()),
            _ => Ok(()),
        }
    }

    fn mismatch(&self, reason: String) -> SpaceError {
        SpaceError::Mismatch { space: self.to_string(), reason }
    }
}

impl BoxSpace {
    /// Whether `v` has the right length, is finite where the box is bounded, and lies inside it.
    pub fn contains_slice(&self, v: &[f64]) -> bool {
        v.len() == self.low.len()
            && v.iter()
                .zip(self.low.iter().zip(&self.high))
                .all(|(&x, (&l, &h))| !x.is_nan() && x >= l && x <= h)
    }
}

impl Discrete {
    /// Whether `x` is one of the elements.
    pub fn contains(&self, x: i64) -> bool {
        x >= self.start && ((x - self.start) as u64) < self.n
    }
}

fn is_integer(x: f64) -> bool {
    x.is_finite() && x.fract() == 0.0
}

/// Formats bounds like numpy: one number when all are equal, else a list; `f32` boxes print
/// their values at `f32` precision (`4.8`, not `4.800000190734863`).
fn fmt_bound(v: &[f64], dtype: DType) -> String {
    let one = |x: f64| match dtype {
        DType::F32 => format!("{}", x as f32),
        DType::F64 => format!("{x}"),
    };
    if !v.is_empty() && v.iter().all(|x| *x == v[0]) {
        one(v[0])
    } else {
        format!("[{}]", v.iter().map(|&x| one(x)).collect::<Vec<_>>().join(", "))
    }
}

impl fmt::Display for Space {
    /// Gymnasium's repr, e.g. `Box(-inf, inf, (4,), float32)` or `Discrete(2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Box(b) => {
                let shape = match b.shape.as_slice() {
                    [n] => format!("({n},)"),
                    s => format!("({})", s.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
                };
                write!(
                    f,
                    "Box({}, {}, {shape}, {})",
                    fmt_bound(&b.low, b.dtype),
                    fmt_bound(&b.high, b.dtype),
                    b.dtype
                )
            }
            Space::Discrete(d) if d.start == 0 => write!(f, "Discrete({})", d.n),
            Space::Discrete(d) => write!(f, "Discrete({}, start={})", d.n, d.start),
            Space::MultiDiscrete(m) => write!(f, "MultiDiscrete({:?})", m.nvec),
            Space::MultiBinary(m) => write!(f, "MultiBinary({})", m.n),
            Space::Tuple { spaces } => {
                write!(f, "Tuple(")?;
                for (i, s) in spaces.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{s}")?;
                }
                write!(f, ")")
            }
            Space::Dict { spaces } => {
                write!(f, "Dict(")?;
                for (i, (k, s)) in spaces.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "'{k}': {s}")?;
                }
                write!(f, ")")
            }
        }
    }
}

/// Minimal samplers for the two distributions `Box.sample` needs (avoids a `rand_distr` dependency).
mod rand_distr_lite {
    use rand::Rng;

    /// Standard normal by the Box-Muller transform.
    pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
        let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
        let u2: f64 = rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Exponential with rate 1 by inversion.
    pub fn exponential<R: Rng + ?Sized>(rng: &mut R) -> f64 {
        -(1.0 - rng.random::<f64>()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn composite() -> Space {
        Space::dict(vec![
            ("pos".into(), Space::uniform_box(-1.0, 1.0, &[2, 3], DType::F32)),
            ("mode".into(), Space::Discrete(Discrete { n: 3, start: -1 })),
            (
                "extra".into(),
                Space::Tuple {
                    spaces: vec![
                        Space::MultiDiscrete(MultiDiscrete { nvec: vec![2, 5] }),
                        Space::MultiBinary(MultiBinary { n: 4 }),
                    ],
                },
            ),
        ])
    }

    #[test]
    fn samples_are_contained_and_roundtrip_through_pack_and_flatten() {
        let s = composite();
        let mut rng = Pcg64::seed_from_u64(3);
        for _ in 0..200 {
            let v = s.sample(&mut rng);
            assert!(s.contains(&v), "{v:?}");
            let mut packed = vec![0.0; s.packed_len()];
            s.pack(&v, &mut packed).unwrap();
            assert!(s.contains_packed(&packed));
            assert_eq!(s.unpack(&packed).unwrap(), v);
            let flat = s.flatten(&v).unwrap();
            assert_eq!(flat.len(), s.flatdim());
            assert_eq!(s.unflatten(&flat).unwrap(), v);
            assert!(match s.flatten_space() {
                Space::Box(b) => b.contains_slice(&flat),
                _ => false,
            });
        }
        assert_eq!(s.packed_len(), 6 + 1 + 2 + 4);
        assert_eq!(s.flatdim(), 6 + 3 + 7 + 4);
    }

    #[test]
    fn same_seed_same_samples() {
        let s = composite();
        let a: Vec<Value> = {
            let mut r = Pcg64::seed_from_u64(9);
            (0..10).map(|_| s.sample(&mut r)).collect()
        };
        let b: Vec<Value> = {
            let mut r = Pcg64::seed_from_u64(9);
            (0..10).map(|_| s.sample(&mut r)).collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn discrete_flatten_is_one_hot_with_start() {
        let s = Space::Discrete(Discrete { n: 3, start: -1 });
        assert_eq!(s.flatten(&Value::Discrete(0)).unwrap(), vec![0.0, 1.0, 0.0]);
        assert!(s.unflatten(&[1.0, 1.0, 0.0]).is_err());
        assert!(!s.contains(&Value::Discrete(2)));
        assert!(!s.contains_packed(&[0.5]));
    }

    #[test]
    fn box_contains_checks_bounds_and_nan() {
        let s = Space::box_from_bounds(vec![-1.0, 0.0], vec![1.0, f64::INFINITY], DType::F64).unwrap();
        assert!(s.contains_packed(&[0.0, 1e9]));
        assert!(!s.contains_packed(&[0.0, -1e-9]));
        assert!(!s.contains_packed(&[f64::NAN, 0.0]));
        assert!(!s.contains_packed(&[0.0]));
        assert!(!s.is_bounded());
        assert!(Space::box_from_bounds(vec![1.0], vec![0.0], DType::F32).is_err());
    }

    #[test]
    fn unbounded_box_samples_follow_gymnasium_rules() {
        let s = Space::box_from_bounds(
            vec![f64::NEG_INFINITY, 2.0, f64::NEG_INFINITY],
            vec![f64::INFINITY, f64::INFINITY, -3.0],
            DType::F64,
        )
        .unwrap();
        let mut rng = Pcg64::seed_from_u64(1);
        let mut out = [0.0; 3];
        let (mut sum, mut sq) = (0.0, 0.0);
        let n = 20_000;
        for _ in 0..n {
            s.sample_packed(&mut rng, &mut out);
            assert!(out[1] >= 2.0 && out[2] <= -3.0);
            sum += out[0];
            sq += out[0] * out[0];
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    }

    #[test]
    fn display_matches_gymnasium() {
        assert_eq!(
            Space::uniform_box(f64::NEG_INFINITY, f64::INFINITY, &[4], DType::F32).to_string(),
            "Box(-inf, inf, (4,), float32)"
        );
        assert_eq!(Space::discrete(2).to_string(), "Discrete(2)");
    }
}
