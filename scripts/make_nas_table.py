"""Regenerate the shipped NAS tabular benchmark
(decisiongym/supervised/nas/data/nas_cell_digits.npz).

Trains every cell of
decisiongym.supervised.nas.tabular.TABLE_SPACE on digits with each fixed seed on one
torch thread and prints the time taken and the optimum. Usage: python scripts/make_nas_table.py
"""

from __future__ import annotations

from decisiongym.supervised.nas.tabular import TABLE_PATH, TABLE_SPACE, generate_table


def main() -> None:
    table = generate_table(TABLE_PATH)
    best = table.best_index
    print(f"{table.val_accuracy.shape[0]} cells x {len(table.seeds)} seeds in "
          f"{table.seconds:.0f} s; best {TABLE_SPACE.describe(TABLE_SPACE.tokens(best))}: "
          f"validation {table.optimum:.4f}, test {table.test_accuracy[best].mean():.4f}; "
          f"median validation {float(sorted(table.mean_val)[len(table.mean_val) // 2]):.4f}")


if __name__ == "__main__":
    main()
