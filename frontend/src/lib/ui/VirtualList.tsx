// A list that renders only the rows on screen (TanStack Virtual), so that 100,000 events cost a
// few dozen DOM nodes. Rows have one fixed height (no measuring while scrolling). Shared by the
// event explorer and the notifications panel.
//
// - Keyboard (`roving`): one row is in the tab order at a time; the arrow keys, Page Up/Down, Home
//   and End move between rows (scrolling them into view), the row's own element takes Enter.
// - Rows added above while the list is scrolled down keep what is on screen where it is (the
//   scroll position moves with them); at the top, new rows appear at the top.
// - `onEndReached`: near the end of what is held (to load an older page).

import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useEffect, useImperativeHandle, useLayoutEffect, useRef, useState, type KeyboardEvent, type ReactNode, type Ref } from "react";

export interface RowControl {
  /** The row's focusable element gets this (0 for the one row in the tab order, else -1). */
  tabIndex: number;
  /**
   * The row's focusable element carries `data-row-focus` (so that keyboard moves can focus it) and
   * calls this with the row's key when it gets the focus. Stable: a memoized row is not re-rendered for it.
   */
  onFocusRow: (key: string) => void;
}

export interface VirtualListHandle {
  scrollToTop: () => void;
  /** Scrolls the row into view and focuses its focusable element. */
  focusRow: (key: string) => void;
  scrollElement: () => HTMLElement | null;
}

export interface VirtualListProps<T> {
  items: readonly T[];
  getKey: (item: T) => string;
  rowHeight: number;
  renderRow: (item: T, index: number, control: RowControl) => ReactNode;
  /** The list's accessible name. */
  label: string;
  className?: string;
  listTestId?: string;
  /** Attributes of a row's <li> (data-* for tests). */
  rowAttributes?: (item: T) => Record<string, string | number | undefined>;
  /** Classes of a row's <li>, beside `vlist-row`. */
  rowClassName?: (item: T) => string;
  onEndReached?: () => void;
  /** How many rows before the end `onEndReached` is called. */
  endThreshold?: number;
  /** One row at a time in the tab order, moved by the arrow keys (else the scrolling region takes the focus). */
  roving?: boolean;
  /** Rows rendered beyond the visible ones, each way. */
  overscan?: number;
  /** After the rows, inside the scrolling region ("Loading older events…"). */
  footer?: ReactNode;
  /** Called with the scroll offset (px) when it changes. */
  onScrollOffset?: (offset: number) => void;
  ref?: Ref<VirtualListHandle>;
}

const FOCUS_SELECTOR = "[data-row-focus]";

export function VirtualList<T>({
  items,
  getKey,
  rowHeight,
  renderRow,
  label,
  className,
  listTestId,
  rowAttributes,
  rowClassName,
  onEndReached,
  endThreshold = 40,
  roving = false,
  overscan = 8,
  footer,
  onScrollOffset,
  ref,
}: VirtualListProps<T>) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const [activeKey, setActiveKey] = useState<string | null>(null);
  const focusRequest = useRef<string | null>(null);

  // Stable while the items are: the virtualizer recomputes its positions (all of them) when it changes.
  const getItemKey = useCallback(
    (index: number) => {
      const item = items[index];
      return item === undefined ? index : getKey(item);
    },
    [items, getKey],
  );
  // The virtualizer is a mutable object by design (TanStack Virtual): this component is not memoized by the compiler.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    getItemKey,
    overscan,
    initialRect: { width: 800, height: 600 },
    // scrolling renders in React's own time, not synchronously inside the scroll event
    useFlushSync: false,
  });
  const virtualItems = virtualizer.getVirtualItems();

  // Rows added above a scrolled-down list: keep the rows on screen where they are.
  const firstKey = useRef<string | null>(null);
  useLayoutEffect(() => {
    const first = items[0];
    const previous = firstKey.current;
    firstKey.current = first === undefined ? null : getKey(first);
    // the virtualizer's own record of the offset: reading the element's would force a layout every time
    const offset = virtualizer.scrollOffset ?? 0;
    if (previous === null || first === undefined || firstKey.current === previous || offset <= 0) return;
    const limit = Math.min(items.length, 50_000);
    for (let i = 1; i < limit; i++) {
      const item = items[i];
      if (item !== undefined && getKey(item) === previous) {
        virtualizer.scrollToOffset(offset + i * rowHeight);
        return;
      }
    }
  }, [items, getKey, rowHeight, virtualizer]);

  // Older pages: when the rows near the end are reached.
  const lastIndex = virtualItems[virtualItems.length - 1]?.index ?? -1;
  useEffect(() => {
    if (onEndReached && items.length > 0 && lastIndex >= items.length - 1 - endThreshold) onEndReached();
  }, [lastIndex, items.length, endThreshold, onEndReached]);

  const indexOfKey = useCallback(
    (key: string): number => {
      for (const v of virtualizer.getVirtualItems()) if (v.key === key) return v.index;
      return items.findIndex((item) => getKey(item) === key);
    },
    [items, getKey, virtualizer],
  );

  const focusRendered = useCallback((key: string): boolean => {
    const list = listRef.current;
    if (list === null) return false;
    for (const li of list.children) {
      if (li instanceof HTMLElement && li.dataset.key === key) {
        const target = li.querySelector<HTMLElement>(FOCUS_SELECTOR) ?? li;
        target.focus({ preventScroll: true });
        return true;
      }
    }
    return false;
  }, []);

  const moveTo = useCallback(
    (index: number) => {
      const item = items[Math.max(0, Math.min(items.length - 1, index))];
      if (item === undefined) return;
      const key = getKey(item);
      setActiveKey(key);
      focusRequest.current = key;
      virtualizer.scrollToIndex(Math.max(0, Math.min(items.length - 1, index)), { align: "auto" });
      if (focusRendered(key)) focusRequest.current = null;
    },
    [items, getKey, virtualizer, focusRendered],
  );

  // A focus asked for a row that was not rendered yet: once it is.
  useLayoutEffect(() => {
    const key = focusRequest.current;
    if (key !== null && focusRendered(key)) focusRequest.current = null;
  });

  useImperativeHandle(
    ref,
    () => ({
      scrollToTop: () => virtualizer.scrollToOffset(0),
      focusRow: (key: string) => {
        const index = indexOfKey(key);
        if (index >= 0) moveTo(index);
      },
      scrollElement: () => scrollRef.current,
    }),
    [virtualizer, indexOfKey, moveTo],
  );

  const onKeyDown = (event: KeyboardEvent<HTMLUListElement>) => {
    if (!roving || items.length === 0) return;
    const target = event.target as HTMLElement;
    if (!target.matches(FOCUS_SELECTOR)) return; // keys inside a row's own controls are theirs
    const current = activeKey === null ? 0 : Math.max(0, indexOfKey(activeKey));
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? rowHeight * 10) / rowHeight) - 1);
    let next: number;
    switch (event.key) {
      case "ArrowDown":
        next = current + 1;
        break;
      case "ArrowUp":
        next = current - 1;
        break;
      case "PageDown":
        next = current + page;
        break;
      case "PageUp":
        next = current - page;
        break;
      case "Home":
        next = 0;
        break;
      case "End":
        next = items.length - 1;
        break;
      default:
        return;
    }
    event.preventDefault();
    moveTo(next);
  };

  // The row in the tab order: the active one when it is rendered, else the first one on screen.
  const renderedKeys = virtualItems.map((v) => String(v.key));
  const offset = virtualizer.scrollOffset ?? 0;
  const firstVisible = virtualItems.find((v) => v.end > offset) ?? virtualItems[0];
  const tabKey = activeKey !== null && renderedKeys.includes(activeKey) ? activeKey : firstVisible ? String(firstVisible.key) : null;

  useEffect(() => {
    onScrollOffset?.(offset);
  }, [offset, onScrollOffset]);

  return (
    <div
      ref={scrollRef}
      className={`vlist${className ? ` ${className}` : ""}`}
      // without focusable rows, the scrolling region itself must be reachable by keyboard
      tabIndex={roving ? undefined : 0}
      role={roving ? undefined : "region"}
      aria-label={roving ? undefined : label}
    >
      <ul
        ref={listRef}
        className="vlist-rows"
        style={{ height: virtualizer.getTotalSize() }}
        aria-label={label}
        data-testid={listTestId}
        data-count={items.length}
        onKeyDown={onKeyDown}
      >
        {virtualItems.map((v) => {
          const item = items[v.index];
          if (item === undefined) return null;
          const key = String(v.key);
          const control: RowControl = { tabIndex: roving ? (key === tabKey ? 0 : -1) : 0, onFocusRow: setActiveKey };
          return (
            <li
              key={key}
              data-key={key}
              data-index={v.index}
              aria-setsize={items.length}
              aria-posinset={v.index + 1}
              {...rowAttributes?.(item)}
              className={`vlist-row${rowClassName ? ` ${rowClassName(item)}` : ""}`}
              style={{ height: rowHeight, transform: `translateY(${v.start}px)` }}
            >
              {renderRow(item, v.index, control)}
            </li>
          );
        })}
      </ul>
      {footer}
    </div>
  );
}
