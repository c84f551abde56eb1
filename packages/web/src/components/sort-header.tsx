/** The active sort of a table: a server-side order key and direction. */
export interface Sort {
  key: string;
  desc: boolean;
}

/** A table header cell that sorts by `sortKey` when clicked and shows the direction. */
export function SortHeader({ label, sortKey, sort, onSort, className }: { label: string; sortKey: string; sort: Sort | undefined; onSort: (key: string) => void; className?: string }) {
  const active = sort?.key === sortKey;
  return (
    <th className={`sortable ${active ? "sorted" : ""} ${className ?? ""}`} onClick={() => onSort(sortKey)} aria-sort={active ? (sort.desc ? "descending" : "ascending") : "none"}>
      {label}
      <span className="sort-arrow">{active ? (sort.desc ? "▼" : "▲") : ""}</span>
    </th>
  );
}
