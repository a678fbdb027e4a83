;; A CPU-bound shard of known cost: 200,000 loop turns per value of the range, then
;; execute(start, end) = end - start, so a job over [0, N) sums to N whatever the sharding.
(module
  (func (export "execute") (param $s i32) (param $e i32) (result i32)
    (local $i i32) (local $j i32) (local $acc i32)
    (local.set $i (local.get $s))
    (block $done
      (loop $outer
        (br_if $done (i32.ge_s (local.get $i) (local.get $e)))
        (local.set $j (i32.const 200000))
        (loop $inner
          (local.set $acc (i32.add (local.get $acc) (local.get $j)))
          (local.set $j (i32.sub (local.get $j) (i32.const 1)))
          (br_if $inner (local.get $j)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    ;; keep $acc alive without changing the result
    (i32.add (i32.sub (local.get $e) (local.get $s)) (i32.mul (local.get $acc) (i32.const 0)))))
