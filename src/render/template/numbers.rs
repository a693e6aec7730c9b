//! sprig's numeric functions (`numeric.go`): integers through spf13/cast v1.10's `ToInt64`
//! (as ESO builds sprig: "3.7" is 3, "0x10" is 16, "010" is 8, anything unreadable 0), floats
//! through `ToFloat64`, and `addf subf mulf divf add1f` in shopspring/decimal arithmetic on the
//! shortest decimal of each float, as sprig does (`addf 1.1 2.2` is 3.3, not
//! 3.3000000000000003; `divf` keeps 16 decimal places).
//!
//! Go's `int` and `int64` are one kind of number here: `typeOf (add 1 2)` is `int` where Go
//! says `int64`.

use gtmpl_ng::{Func, FuncError, Value};

use super::values::{
    arity, float, generic, go_parse_int, int, int_arg, str_arg, strval, to_f64, to_i64,
};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("atoi", atoi),
    ("int", to_int),
    ("int64", to_int),
    ("float64", to_float),
    ("add", add),
    ("add1", add1),
    ("sub", sub),
    ("mul", mul),
    ("div", div),
    ("mod", modulo),
    ("max", max),
    ("biggest", max),
    ("min", min),
    ("maxf", maxf),
    ("minf", minf),
    ("floor", floor),
    ("ceil", ceil),
    ("round", round),
    ("addf", addf),
    ("add1f", add1f),
    ("subf", subf),
    ("mulf", mulf),
    ("divf", divf),
    ("until", until),
    ("untilStep", until_step),
    ("seq", seq),
    ("toDecimal", to_decimal),
];

fn to_int(args: &[Value]) -> Result<Value, FuncError> {
    arity("int", args, 1)?;
    Ok(int(to_i64(&args[0])))
}

fn to_float(args: &[Value]) -> Result<Value, FuncError> {
    arity("float64", args, 1)?;
    Ok(float(to_f64(&args[0])))
}

fn add(args: &[Value]) -> Result<Value, FuncError> {
    Ok(int(args
        .iter()
        .fold(0i64, |a, v| a.wrapping_add(to_i64(v)))))
}

fn add1(args: &[Value]) -> Result<Value, FuncError> {
    arity("add1", args, 1)?;
    Ok(int(to_i64(&args[0]).wrapping_add(1)))
}

fn sub(args: &[Value]) -> Result<Value, FuncError> {
    arity("sub", args, 2)?;
    Ok(int(to_i64(&args[0]).wrapping_sub(to_i64(&args[1]))))
}

fn mul(args: &[Value]) -> Result<Value, FuncError> {
    let Some((first, rest)) = args.split_first() else {
        return Err(generic(
            "wrong number of args for mul: want at least 1 got 0",
        ));
    };
    Ok(int(rest
        .iter()
        .fold(to_i64(first), |a, v| a.wrapping_mul(to_i64(v)))))
}

fn int_division(name: &str, args: &[Value], rem: bool) -> Result<Value, FuncError> {
    arity(name, args, 2)?;
    let (a, b) = (to_i64(&args[0]), to_i64(&args[1]));
    if b == 0 {
        return Err(generic("runtime error: integer divide by zero"));
    }
    Ok(int(if rem {
        a.wrapping_rem(b)
    } else {
        a.wrapping_div(b)
    }))
}

fn div(args: &[Value]) -> Result<Value, FuncError> {
    int_division("div", args, false)
}

fn modulo(args: &[Value]) -> Result<Value, FuncError> {
    int_division("mod", args, true)
}

fn extreme(name: &str, args: &[Value], pick: fn(i64, i64) -> i64) -> Result<Value, FuncError> {
    let Some((first, rest)) = args.split_first() else {
        return Err(generic(format!(
            "wrong number of args for {name}: want at least 1 got 0"
        )));
    };
    Ok(int(rest
        .iter()
        .fold(to_i64(first), |a, v| pick(a, to_i64(v)))))
}

fn max(args: &[Value]) -> Result<Value, FuncError> {
    extreme("max", args, i64::max)
}

fn min(args: &[Value]) -> Result<Value, FuncError> {
    extreme("min", args, i64::min)
}

/// Go's `math.Max`/`math.Min`: NaN wins.
fn extreme_f(name: &str, args: &[Value], max: bool) -> Result<Value, FuncError> {
    let Some((first, rest)) = args.split_first() else {
        return Err(generic(format!(
            "wrong number of args for {name}: want at least 1 got 0"
        )));
    };
    Ok(float(rest.iter().fold(to_f64(first), |a, v| {
        let b = to_f64(v);
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else if max {
            a.max(b)
        } else {
            a.min(b)
        }
    })))
}

fn maxf(args: &[Value]) -> Result<Value, FuncError> {
    extreme_f("maxf", args, true)
}

fn minf(args: &[Value]) -> Result<Value, FuncError> {
    extreme_f("minf", args, false)
}

fn floor(args: &[Value]) -> Result<Value, FuncError> {
    arity("floor", args, 1)?;
    Ok(float(to_f64(&args[0]).floor()))
}

fn ceil(args: &[Value]) -> Result<Value, FuncError> {
    arity("ceil", args, 1)?;
    Ok(float(to_f64(&args[0]).ceil()))
}

/// sprig's `round value places [roundOn]`: up when the fraction at that place is at least
/// `roundOn` (0.5), else down.
fn round(args: &[Value]) -> Result<Value, FuncError> {
    if !(2..=3).contains(&args.len()) {
        return Err(generic(format!(
            "wrong number of args for round: want 2 or 3 got {}",
            args.len()
        )));
    }
    let val = to_f64(&args[0]);
    let places = int_arg("round", &args[1])? as f64;
    let round_on = args.get(2).map_or(0.5, to_f64);
    let pow = 10f64.powf(places);
    let digit = pow * val;
    let frac = digit.fract();
    let r = if frac >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(float(r / pow))
}

/// A decimal `m / 10^scale`, as shopspring/decimal holds one.
#[derive(Clone, Copy)]
struct Dec {
    m: i128,
    scale: u32,
}

impl Dec {
    /// `decimal.NewFromFloat`: the shortest decimal that reads back as `f`.
    fn from_f64(f: f64) -> Option<Self> {
        if !f.is_finite() {
            return None;
        }
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let frac_len = mantissa.split_once('.').map_or(0, |(_, f)| f.len());
        let digits: i128 = mantissa.replace('.', "").parse().ok()?;
        let exp10 = exp - i32::try_from(frac_len).ok()?;
        if exp10 >= 0 {
            Some(Self {
                m: digits.checked_mul(10i128.checked_pow(exp10.unsigned_abs())?)?,
                scale: 0,
            })
        } else {
            Some(Self {
                m: digits,
                scale: exp10.unsigned_abs(),
            })
        }
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.m.checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    fn add(self, o: Self, sign: i128) -> Option<Self> {
        let scale = self.scale.max(o.scale);
        let m = self
            .rescale(scale)?
            .checked_add(o.rescale(scale)?.checked_mul(sign)?)?;
        Some(Self { m, scale })
    }

    fn mul(self, o: Self) -> Option<Self> {
        Some(Self {
            m: self.m.checked_mul(o.m)?,
            scale: self.scale + o.scale,
        })
    }

    /// `Div`: rounded (half away from zero) to 16 decimal places.
    fn div(self, o: Self) -> Option<Self> {
        let num = self.m.checked_mul(10i128.checked_pow(o.scale + 16)?)?;
        let den = o.m.checked_mul(10i128.checked_pow(self.scale)?)?;
        let q = num / den;
        let r = num % den;
        let away = (r.abs() * 2 >= den.abs()) as i128 * if (num < 0) != (den < 0) { -1 } else { 1 };
        Some(Self {
            m: q + away,
            scale: 16,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e-{}", self.m, self.scale)
            .parse()
            .unwrap_or(f64::NAN)
    }
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// sprig's `execDecimalOp`: `first`, then each of `rest` combined into it.
fn decimal_op(first: f64, rest: &[Value], op: Op) -> Result<Value, FuncError> {
    let mut acc = first;
    for v in rest {
        let b = to_f64(v);
        if matches!(op, Op::Div) && b == 0.0 {
            return Err(generic("decimal division by 0"));
        }
        let exact = Dec::from_f64(acc)
            .zip(Dec::from_f64(b))
            .and_then(|(x, y)| match op {
                Op::Add => x.add(y, 1),
                Op::Sub => x.add(y, -1),
                Op::Mul => x.mul(y),
                Op::Div => x.div(y),
            });
        acc = match exact {
            Some(d) => d.to_f64(),
            None => match op {
                Op::Add => acc + b,
                Op::Sub => acc - b,
                Op::Mul => acc * b,
                Op::Div => acc / b,
            },
        };
    }
    Ok(float(acc))
}

fn addf(args: &[Value]) -> Result<Value, FuncError> {
    decimal_op(0.0, args, Op::Add)
}

fn add1f(args: &[Value]) -> Result<Value, FuncError> {
    arity("add1f", args, 1)?;
    decimal_op(to_f64(&args[0]), &[Value::from(1)], Op::Add)
}

fn first_rest<'a>(name: &str, args: &'a [Value]) -> Result<(f64, &'a [Value]), FuncError> {
    let (first, rest) = args.split_first().ok_or_else(|| {
        generic(format!(
            "wrong number of args for {name}: want at least 1 got 0"
        ))
    })?;
    Ok((to_f64(first), rest))
}

fn subf(args: &[Value]) -> Result<Value, FuncError> {
    let (a, rest) = first_rest("subf", args)?;
    decimal_op(a, rest, Op::Sub)
}

fn mulf(args: &[Value]) -> Result<Value, FuncError> {
    let (a, rest) = first_rest("mulf", args)?;
    decimal_op(a, rest, Op::Mul)
}

fn divf(args: &[Value]) -> Result<Value, FuncError> {
    let (a, rest) = first_rest("divf", args)?;
    decimal_op(a, rest, Op::Div)
}

/// sprig's `untilStep start stop step`, bounded by the engine's iteration limit.
fn steps(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, FuncError> {
    let count = if step > 0 && start < stop {
        (stop - start - 1) / step + 1
    } else if step < 0 && start > stop {
        (start - stop - 1) / -step + 1
    } else {
        0
    };
    gtmpl_ng::helm_functions::bounded_elements(count, "untilStep")?;
    Ok((0..count).map(|i| start + i * step).collect())
}

fn ints(v: Vec<i64>) -> Value {
    Value::Array(v.into_iter().map(int).collect())
}

fn until(args: &[Value]) -> Result<Value, FuncError> {
    arity("until", args, 1)?;
    let n = int_arg("until", &args[0])?;
    Ok(ints(steps(0, n, if n < 0 { -1 } else { 1 })?))
}

fn until_step(args: &[Value]) -> Result<Value, FuncError> {
    arity("untilStep", args, 3)?;
    let start = int_arg("untilStep", &args[0])?;
    let stop = int_arg("untilStep", &args[1])?;
    let step = int_arg("untilStep", &args[2])?;
    Ok(ints(steps(start, stop, step)?))
}

/// sprig's `seq`: like the Unix command, `seq end`, `seq start end`, `seq start step end`,
/// as one string.
fn seq(args: &[Value]) -> Result<Value, FuncError> {
    let p: Vec<i64> = args
        .iter()
        .map(|a| int_arg("seq", a))
        .collect::<Result<_, _>>()?;
    let list = match p.as_slice() {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            steps(1, end + inc, inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            steps(*start, end + step, step)?
        }
        [start, step, end] => {
            let inc = if end < start { -1 } else { 1 };
            if end < start && *step > 0 {
                Vec::new()
            } else {
                steps(*start, end + inc, *step)?
            }
        }
        _ => Vec::new(),
    };
    let text: Vec<String> = list.iter().map(ToString::to_string).collect();
    Ok(Value::String(text.join(" ")))
}

/// sprig's `toDecimal`: the value's text read as an octal number; 0 when it is not one.
fn to_decimal(args: &[Value]) -> Result<Value, FuncError> {
    arity("toDecimal", args, 1)?;
    let text = strval(&args[0]);
    let body = text.strip_prefix(['+', '-']).unwrap_or(&text);
    let ok = !body.is_empty() && body.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let n = if ok {
        go_parse_int(&format!("0o{body}"))
            .map(|n| if text.starts_with('-') { -n } else { n })
            .unwrap_or(0)
    } else {
        0
    };
    Ok(int(n))
}

fn atoi(args: &[Value]) -> Result<Value, FuncError> {
    arity("atoi", args, 1)?;
    // sprig ignores strconv.Atoi's error: anything that is not a decimal integer is 0.
    Ok(Value::from(
        str_arg("atoi", &args[0])?.parse::<i64>().unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    /// What Go renders with ESO's sprig fork (shopspring/decimal for the float arithmetic).
    #[test]
    fn numbers_as_go() {
        let d: &[(&str, &str)] = &[];
        check(&[
            (
                r#"{{ addf 1.1 2.2 }} {{ subf 1 0.9 }} {{ mulf 1.1 3 }} {{ divf 10 3 }} {{ add1f 1.5 }} {{ addf }} {{ addf "1.5" 2 }} {{ divf 2 3 }} {{ divf 1 8 }} {{ mulf 0.1 0.2 }} {{ divf -2 3 }} {{ addf 1e20 1 }} {{ subf 5 }}"#,
                d,
                "3.3 0.1 3.3 3.3333333333333335 2.5 0 3.5 0.6666666666666667 0.125 0.02 -0.6666666666666667 1e+20 5",
            ),
            (
                r#"{{ max 1 "5" 3 }} {{ min 4 2 "x" }} {{ maxf 1 2.5 }} {{ minf 1 2.5 "0.5" }} {{ biggest 1 9 }}"#,
                d,
                "5 0 2.5 0.5 9",
            ),
            (
                r#"{{ floor 1.7 }} {{ ceil 1.2 }} {{ round 3.14159 2 }} {{ round 2.5 0 }} {{ round 2.45 1 0.4 }} {{ round "-1.5" 0 }}"#,
                d,
                "1 2 3.14 3 2.5 -2",
            ),
            (
                "{{ until 3 | toJson }} {{ until -3 | toJson }} {{ untilStep 0 10 3 | toJson }} {{ untilStep 10 0 -4 | toJson }} {{ untilStep 0 10 -1 | toJson }}",
                d,
                "[0,1,2] [0,-1,-2] [0,3,6,9] [10,6,2] []",
            ),
            (
                "{{ seq 3 }}|{{ seq 0 }}|{{ seq -2 }}|{{ seq 2 5 }}|{{ seq 5 2 }}|{{ seq 1 2 8 }}|{{ seq 8 -3 1 }}|{{ seq 8 3 1 }}|{{ seq }}",
                d,
                "1 2 3|1 0|1 0 -1 -2|2 3 4 5|5 4 3 2|1 3 5 7|8 5 2||",
            ),
            (
                r#"{{ toDecimal "0777" }} {{ toDecimal 777 }} {{ toDecimal "9" }}"#,
                d,
                "511 511 0",
            ),
            (
                r#"{{ float64 "1.5" }} {{ float64 2 }} {{ float64 "x" }} {{ typeOf (float64 2) }}"#,
                d,
                "1.5 2 0 float64",
            ),
            ("{{ mulf 2 3 }} {{ typeOf (mulf 2 3) }}", d, "6 float64"),
        ]);
        for (tpl, want) in [
            ("{{ divf 1 0 }}", "decimal division by 0"),
            ("{{ mod 7 0 }}", "integer divide by zero"),
            ("{{ div 7 0 }}", "integer divide by zero"),
        ] {
            let err = render(tpl, d).unwrap_err().to_string();
            assert!(err.contains(want), "{tpl}: {err}");
        }
    }

    #[test]
    fn integers() {
        let d: &[(&str, &str)] = &[];
        check(&[
            (r#"{{ atoi "42" | add 1 }}"#, d, "43"),
            (r#"{{ atoi "x" }}"#, d, "0"),
            (r#"{{ int "7" }} {{ int64 "8" }}"#, d, "7 8"),
            ("{{ toString 5 }}", d, "5"),
            // spf13/cast v1.10, as ESO builds sprig.
            (
                r#"{{ int "3.7" }} {{ int "0x10" }} {{ int "010" }} {{ int64 "1_000" }} {{ int 2.9 }} {{ int true }} {{ int "-.5" }}"#,
                d,
                "3 16 8 1000 2 1 0",
            ),
            (
                r#"{{ add 1 "2" 1.5 }} {{ mul "3" 2 }} {{ sub "10" 2.5 }} {{ add1 "x" }}"#,
                d,
                "4 6 8 1",
            ),
            (
                "{{ add 1 2 3 }} {{ sub 5 2 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 2 }} {{ add1 4 }}",
                d,
                "6 3 24 3 1 5",
            ),
        ]);
    }
}
