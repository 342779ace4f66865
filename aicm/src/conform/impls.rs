//! The standard library's and serde_json's types, per schema type.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, LinkedList, VecDeque};
use std::num::NonZero;
use std::rc::Rc;
use std::sync::Arc;

use aicm_schema::TypeExpr;
use serde_json::{Map, Number, Value};

use super::support::{check_entries, check_items, element_type, non_finite};
use super::{
    Conforms, IsAny, IsAnyDict, IsAnyList, IsBool, IsDict, IsFloat, IsInt, IsList, IsOptional,
    IsSet, IsStr, IsTuple, IsUnion,
};
use crate::{Mismatch, TypeValidator};

macro_rules! plain {
    ($tr:ident: $($t:ty),* $(,)?) => {
        $(impl $tr for $t {})*
    };
}

plain!(IsInt: i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
plain!(IsInt: NonZero<i8>, NonZero<i16>, NonZero<i32>, NonZero<i64>, NonZero<i128>, NonZero<isize>);
plain!(IsInt: NonZero<u8>, NonZero<u16>, NonZero<u32>, NonZero<u64>, NonZero<u128>, NonZero<usize>);
plain!(IsStr: String, str, char);
plain!(IsBool: bool);
plain!(IsFloat: Number);
plain!(IsAny: i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);
plain!(IsAny: NonZero<i8>, NonZero<i16>, NonZero<i32>, NonZero<i64>, NonZero<i128>, NonZero<isize>);
plain!(IsAny: NonZero<u8>, NonZero<u16>, NonZero<u32>, NonZero<u64>, NonZero<u128>, NonZero<usize>);
plain!(IsAny: String, str, char, bool, (), Number, Map<String, Value>);
plain!(IsAnyDict: Map<String, Value>);

/// Non-finite floats are the one thing a float field can get wrong: serde_json would write them
/// as `null`.
macro_rules! float {
    ($($t:ty),*) => {$(
        impl IsFloat for $t {
            const NEEDS_CHECK: bool = true;

            #[inline]
            fn check_value(&self, _ty: &TypeExpr) -> Result<(), Mismatch> {
                if self.is_finite() { Ok(()) } else { Err(non_finite(f64::from(*self))) }
            }
        }
    )*};
}

float!(f32, f64);

/// A `Value` conforms to every schema type; `track` checks it against the type.
macro_rules! value {
    ($($tr:ident $(<$($g:ident),+>)?),* $(,)?) => {$(
        impl $(<$($g),+>)? $tr $(<$($g),+>)? for Value {
            const NEEDS_CHECK: bool = true;

            fn check_value(&self, ty: &TypeExpr) -> Result<(), Mismatch> {
                TypeValidator::new().validate_type(self, ty)
            }
        }
    )*};
}

value!(
    IsInt,
    IsFloat,
    IsStr,
    IsBool,
    IsList<E>,
    IsDict<K, V>,
    IsOptional<E>,
    IsUnion<M>,
    IsAnyList,
    IsTuple,
    IsSet,
    IsAnyDict,
);
impl IsAny for Value {}

/// Sequences of conforming elements are `List[T]`; of any elements, `list`, `tuple` and `Any`.
macro_rules! sequence {
    ($([$($gen:tt)*] $t:ty),* $(,)?) => {$(
        impl<$($gen)*, E> IsList<E> for $t
        where
            U: Conforms<E>,
        {
            const NEEDS_CHECK: bool = <U as Conforms<E>>::NEEDS_CHECK;

            fn check_value(&self, ty: &TypeExpr) -> Result<(), Mismatch> {
                check_items::<U, E>(self.iter(), element_type(ty))
            }
        }
        impl<$($gen)*> IsAnyList for $t {}
        impl<$($gen)*> IsTuple for $t {}
        impl<$($gen)*> IsAny for $t {}
    )*};
}

sequence!(
    [U] Vec<U>,
    [U] [U],
    [U, const N: usize] [U; N],
    [U] VecDeque<U>,
    [U] LinkedList<U>,
    [U] BTreeSet<U>,
    [U, H] HashSet<U, H>,
);

impl<U> IsSet for BTreeSet<U> {}
impl<U, H> IsSet for HashSet<U, H> {}

/// Maps are `Dict[K, V]` when keys and values conform; `dict` and `Any` whatever they hold.
macro_rules! map {
    ($([$($gen:tt)*] $t:ty),* $(,)?) => {$(
        impl<$($gen)*, K, V> IsDict<K, V> for $t
        where
            KU: Conforms<K> + serde::Serialize,
            VU: Conforms<V>,
        {
            const NEEDS_CHECK: bool = <VU as Conforms<V>>::NEEDS_CHECK;

            fn check_value(&self, ty: &TypeExpr) -> Result<(), Mismatch> {
                check_entries::<KU, VU, V>(self.iter(), ty)
            }
        }
        impl<$($gen)*> IsAnyDict for $t {}
        impl<$($gen)*> IsAny for $t {}
    )*};
}

map!([KU, VU] BTreeMap<KU, VU>, [KU, VU, H] HashMap<KU, VU, H>);

impl<K, V> IsDict<K, V> for Map<String, Value>
where
    String: Conforms<K>,
    Value: Conforms<V>,
{
    const NEEDS_CHECK: bool = true;

    fn check_value(&self, ty: &TypeExpr) -> Result<(), Mismatch> {
        check_entries::<String, Value, V>(self.iter(), ty)
    }
}

impl<U, E> IsOptional<E> for Option<U>
where
    U: Conforms<E>,
{
    const NEEDS_CHECK: bool = <U as Conforms<E>>::NEEDS_CHECK;

    #[inline]
    fn check_value(&self, ty: &TypeExpr) -> Result<(), Mismatch> {
        match self {
            // Still `Optional[T]`: `Some(Value::Null)` is written as null, which is valid here.
            Some(value) => value.check_value(ty),
            None => Ok(()),
        }
    }
}

impl<U> IsAny for Option<U> {}

/// Tuples serialise as arrays.
macro_rules! tuple {
    ($(($($t:ident),+)),* $(,)?) => {$(
        impl<$($t),+> IsAnyList for ($($t,)+) {}
        impl<$($t),+> IsTuple for ($($t,)+) {}
        impl<$($t),+> IsAny for ($($t,)+) {}
    )*};
}

tuple!(
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, F),
    (A, B, C, D, F, G),
    (A, B, C, D, F, G, H),
    (A, B, C, D, F, G, H, I),
    (A, B, C, D, F, G, H, I, J),
    (A, B, C, D, F, G, H, I, J, L),
    (A, B, C, D, F, G, H, I, J, L, N),
    (A, B, C, D, F, G, H, I, J, L, N, O),
);

/// References and smart pointers serialise as what they point to, so they conform the same.
macro_rules! pointers {
    ($($tr:ident $(<$($g:ident),+>)?),* $(,)?) => {$(
        pointers!(@one $tr $(<$($g),+>)?; ['r] &'r T);
        pointers!(@one $tr $(<$($g),+>)?; ['r] &'r mut T);
        pointers!(@one $tr $(<$($g),+>)?; [] Box<T>);
        pointers!(@one $tr $(<$($g),+>)?; [] Rc<T>);
        pointers!(@one $tr $(<$($g),+>)?; [] Arc<T>);

        impl<'c, $($($g,)+)? T> $tr $(<$($g),+>)? for Cow<'c, T>
        where
            T: ?Sized + ToOwned + $tr $(<$($g),+>)?,
        {
            const NEEDS_CHECK: bool = <T as $tr $(<$($g),+>)?>::NEEDS_CHECK;

            #[inline]
            fn check_value(&self, ty: &TypeExpr) -> Result<(), Mismatch> {
                <T as $tr $(<$($g),+>)?>::check_value(&**self, ty)
            }
        }
    )*};
    (@one $tr:ident $(<$($g:ident),+>)?; [$($lt:lifetime)?] $ptr:ty) => {
        impl<$($lt,)? $($($g,)+)? T> $tr $(<$($g),+>)? for $ptr
        where
            T: ?Sized + $tr $(<$($g),+>)?,
        {
            const NEEDS_CHECK: bool = <T as $tr $(<$($g),+>)?>::NEEDS_CHECK;

            #[inline]
            fn check_value(&self, ty: &TypeExpr) -> Result<(), Mismatch> {
                <T as $tr $(<$($g),+>)?>::check_value(&**self, ty)
            }
        }
    };
}

pointers!(
    IsInt,
    IsFloat,
    IsStr,
    IsBool,
    IsList<E>,
    IsDict<K, V>,
    IsOptional<E>,
    IsUnion<M>,
    IsAnyList,
    IsTuple,
    IsSet,
    IsAnyDict,
    IsAny,
);
