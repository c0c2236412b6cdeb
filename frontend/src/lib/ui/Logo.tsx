// The product's mark.
export function Logo({ size = 28 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" focusable="false" className="logo">
      <rect x="1" y="1" width="30" height="30" rx="8" className="logo-bg" />
      <circle cx="16" cy="16" r="8.5" fill="none" stroke="currentColor" strokeWidth="2" />
      <path d="M7.5 16h17M16 7.5c2.6 2.4 3.8 5.2 3.8 8.5s-1.2 6.1-3.8 8.5c-2.6-2.4-3.8-5.2-3.8-8.5s1.2-6.1 3.8-8.5z" fill="none" stroke="currentColor" strokeWidth="1.6" />
      <circle cx="24.5" cy="7.5" r="3.2" className="logo-live" />
    </svg>
  );
}
