// A domain name that wraps after its dots on a narrow screen ("ads.tracker." / "example"), not in the
// middle of a label.

import { Fragment } from "react";

export function DomainName({ name }: { name: string }) {
  const labels = name.split(".");
  return (
    <>
      {labels.map((label, i) => (
        <Fragment key={i}>
          {label}
          {i < labels.length - 1 && (
            <>
              .<wbr />
            </>
          )}
        </Fragment>
      ))}
    </>
  );
}
