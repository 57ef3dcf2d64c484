/** File plumbing shared by the writers: {@link dev.jlora.loaders.io.AtomicFile} (temporary file, force, rename). */
package dev.jlora.loaders.io;
