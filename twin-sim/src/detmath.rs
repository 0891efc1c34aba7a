//! Elementary functions with the same bits on every target. The platform `exp`/`ln`/`powf`/`sin`
//! come from different C libraries on native and on wasm32 and may differ in the last bit,
//! which would break bit-identical trajectories; `libm` is one pure-Rust implementation
//! compiled the same everywhere, so the models call these instead.

/// e^x.
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// Natural logarithm (−∞ at 0, NaN below).
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}

/// x^y.
pub fn powf(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// sin x (x in radians).
pub fn sin(x: f64) -> f64 {
    libm::sin(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-14 * b.abs().max(1e-300)
    }

    #[test]
    fn agree_with_std_to_the_last_bits() {
        let mut x = -700.0;
        while x < 700.0 {
            assert!(close(exp(x), x.exp()), "exp({x})");
            x += 0.731;
        }
        let mut x: f64 = 1e-300;
        while x < 1e300 {
            assert!((ln(x) - x.ln()).abs() <= 1e-14 * x.ln().abs().max(1.0), "ln({x})");
            x *= 3.7;
        }
        for x in [0.01f64, 0.5, 1.0, 2.93, 4.47, 10.0, 100.0] {
            for y in [0.5, 1.0, 1.43, 2.0, 3.0] {
                assert!((powf(x, y) - x.powf(y)).abs() <= 1e-13 * x.powf(y), "{x}^{y}");
            }
        }
        let mut x = -50.0;
        while x < 50.0 {
            assert!((sin(x) - x.sin()).abs() <= 1e-15, "sin({x})");
            x += 0.377;
        }
        assert!(ln(-1.0).is_nan() && exp(f64::NAN).is_nan());
    }
}
