/** Self-contained SVG charts ({@link dev.jlora.engine.plot.SvgChart}) for the loss and spectrum plots. */
package dev.jlora.engine.plot;
