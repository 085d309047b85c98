// Package treemath computes the array layout of MLS ratchet trees (RFC 9420
// §4.1.1, §7, Appendix C): node indices of leaves and parents, the root of a
// tree of a given size, left/right children, parents, siblings, direct
// paths, copaths and common ancestors.
//
// Leaves are at even node indices and parents at odd ones. LeafIndex and
// NodeIndex are distinct types so that the two cannot be mixed up silently;
// convert with LeafIndex.Node and NodeIndex.Leaf. Since RFC 9420 trees
// always hold a power of two leaves, every function takes the leaf count n
// (a power of two) where it needs the tree's extent.
//
// Functions that have no answer for their input (the left child of a leaf,
// the parent of the root) return ok=false instead of panicking.
package treemath
