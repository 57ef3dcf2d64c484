package dev.jlora.engine.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopStringsTest {
    @Test
    void possibleStartOfAStopStringIsHeldBackUntilDecided() {
        var s = new StopStrings(List.of("</s>", "\nUser:"));
        assertEquals("Hello", s.append("Hello"));
        assertEquals("", s.append("\nUs"));         // could be "\nUser:"
        assertEquals("\nUsual", s.append("ual"));   // it was not
        assertEquals(" ", s.append(" <"));          // "<" may start "</s>"
        assertEquals("<b>", s.append("b>"));
        assertFalse(s.stopped());
        assertEquals("Hello\nUsual <b>", s.text());
    }

    @Test
    void stopStringAcrossPiecesCutsTheTextBeforeIt() {
        var s = new StopStrings(List.of("</s>"));
        assertEquals("ab", s.append("ab<"));
        assertEquals("", s.append("/"));
        assertEquals("", s.append("s>tail"));
        assertTrue(s.stopped());
        assertEquals("ab", s.text());
    }

    @Test
    void earliestStopStringWinsAndFinishReleasesTheRest() {
        var s = new StopStrings(List.of("xyz", "y"));
        assertEquals("ab", s.append("abxyz"));
        assertTrue(s.stopped());
        assertEquals("ab", s.text());

        var t = new StopStrings(List.of("STOP"));
        assertEquals("go ", t.append("go ST"));
        assertEquals("ST", t.finish(""));
        assertEquals("go ST", t.text());
    }
}
