// The button that switches between the light and the dark theme.
import { toggleTheme, useTheme } from "../theme";
import { MoonIcon, SunIcon } from "./icons";

export function ThemeToggle() {
  const theme = useTheme();
  const next = theme === "dark" ? "light" : "dark";
  return (
    <button type="button" className="icon-button" aria-label="Toggle theme" title={`Switch to ${next} theme`} onClick={toggleTheme}>
      {theme === "dark" ? <SunIcon /> : <MoonIcon />}
    </button>
  );
}
