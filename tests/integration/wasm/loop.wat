;; A module that never ends: every shard runs out of fuel (422 with per-shard "out of fuel").
(module
  (func (export "execute") (param i32 i32) (result i32)
    (loop $l (br $l))
    (i32.const 0)))
