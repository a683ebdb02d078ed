package doctor

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteDiagnosis prints a diagnosis for people, its event times in loc.
func WriteDiagnosis(w io.Writer, d Diagnosis, loc *time.Location) error {
	bw := bufio.NewWriter(w)
	machine := d.MAC
	var about []string
	if d.Profile != "" {
		about = append(about, "profile "+d.Profile)
	} else {
		about = append(about, "not registered")
	}
	about = append(about, "state "+string(d.State))
	fmt.Fprintf(bw, "machine:    %s (%s)\n", machine, strings.Join(about, ", "))
	fmt.Fprintf(bw, "outcome:    %s\n", d.Outcome)
	fmt.Fprintf(bw, "summary:    %s\n", d.Summary)
	if d.Last != nil {
		fmt.Fprintf(bw, "quiet for:  %s (since its last event)\n", ago(time.Duration(d.Quiet*float64(time.Second))))
	}
	if d.Last != nil {
		fmt.Fprintf(bw, "last step:  %s\n", d.Last.Name)
		writeEvidence(bw, "              ", d.Last.Event, loc)
	}
	if d.Missing != "" {
		fmt.Fprintf(bw, "missing:    %s\n", d.Missing)
	}
	switch {
	case len(d.Causes) == 0 && (d.Outcome == OutcomeInstalled || d.Outcome == OutcomeInProgress):
		fmt.Fprintln(bw, "causes:     none: nothing in its timeline looks wrong")
	case len(d.Causes) == 0:
		fmt.Fprintln(bw, "causes:     none found in its timeline")
	default:
		fmt.Fprintln(bw, "likely causes, most likely first:")
		for i, c := range d.Causes {
			fmt.Fprintf(bw, "  %d. %s\n", i+1, c.Text)
			if c.Fix != "" {
				fmt.Fprintf(bw, "     fix: %s\n", c.Fix)
			}
			for j, e := range c.Events {
				if c.More > 0 && j == len(c.Events)-1 {
					fmt.Fprintf(bw, "       ... %d more like these\n", c.More)
				}
				writeEvidence(bw, "       ", e, loc)
			}
		}
	}
	return bw.Flush()
}

func writeEvidence(w io.Writer, indent string, e Evidence, loc *time.Location) {
	fmt.Fprintf(w, "%s%s  %s  %s\n", indent, e.Time.In(loc).Format("2006-01-02 15:04:05.000"), e.Kind, e.Detail)
}
