package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Print writes the report as a table: the floor first, then Whirl's
// figures with their targets.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "whirl bench — %s — %s\n\n", r.Date, r.Machine)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(r.Floor) > 0 {
		fmt.Fprintln(tw, "FLOOR\tVALUE\t\t")
		for _, f := range r.Floor {
			fmt.Fprintf(tw, "%s\t%s %s\t\t\n", f.Name, num(f.Value), f.Unit)
		}
		fmt.Fprintln(tw, "\t\t\t")
	}
	if len(r.Whirl) > 0 {
		fmt.Fprintln(tw, "WHIRL\tVALUE\tTARGET\tMET")
		for _, f := range r.Whirl {
			met := ""
			if f.Met != nil {
				met = "no"
				if *f.Met {
					met = "yes"
				}
			}
			note := ""
			if f.Note != "" {
				note = " (" + f.Note + ")"
			}
			fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s%s\n", f.Name, num(f.Value), f.Unit, f.Target, met, note)
		}
	}
	tw.Flush()
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
