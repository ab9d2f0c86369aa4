/*
 * shortcuts.ts - the annotation tool's keyboard shortcuts: one table that
 * the help overlay (?) shows and docs/web.md copies. The handling itself is
 * in Annotate.tsx (onKey); keep the two in step.
 */
export interface Shortcut {
  keys: string[];
  what: string;
}

export const SHORTCUT_GROUPS: { title: string; items: Shortcut[] }[] = [
  {
    title: 'Tools',
    items: [
      { keys: ['V'], what: 'Select, move, resize, edit vertices' },
      { keys: ['R'], what: 'Rectangle (drag)' },
      { keys: ['P'], what: 'Polygon (click vertices; click the first, double-click or Enter to close)' },
      { keys: ['L'], what: 'Polyline (click vertices; double-click or Enter to finish)' },
      { keys: ['O'], what: 'Point (click)' },
      { keys: ['K'], what: 'Keypoints of the label’s skeleton, in order (Shift-click: hidden)' },
      { keys: ['X'], what: 'Keypoints: skip this vertex (not labelled)' },
      { keys: ['T'], what: 'Tag the whole image with the current label (classification), or untag' },
    ],
  },
  {
    title: 'Labels',
    items: [
      { keys: ['1', '…', '9'], what: 'Pick a label (and give it to the selected shapes)' },
      { keys: ['/'], what: 'Search labels (Enter picks the first match, or creates it)' },
    ],
  },
  {
    title: 'Editing',
    items: [
      { keys: ['Ctrl', 'Z'], what: 'Undo' },
      { keys: ['Ctrl', 'Shift', 'Z'], what: 'Redo (also Ctrl+Y)' },
      { keys: ['Ctrl', 'C'], what: 'Copy the selected shapes' },
      { keys: ['Ctrl', 'V'], what: 'Paste (also on another image)' },
      { keys: ['Ctrl', 'A'], what: 'Select every shape' },
      { keys: ['Delete'], what: 'Delete the selected shapes (Backspace too)' },
      { keys: ['Backspace'], what: 'While drawing: remove the last vertex' },
      { keys: ['Enter'], what: 'Finish the polygon, polyline or keypoints being drawn' },
      { keys: ['Esc'], what: 'Cancel the drawing, then clear the selection' },
      { keys: ['←', '→', '↑', '↓'], what: 'Move the selected shapes 1 px (Shift: 10 px)' },
      { keys: ['Alt', 'click'], what: 'Delete a vertex of the selected shape' },
      { keys: ['double-click'], what: 'On an edge of the selected shape: add a vertex' },
      { keys: ['Ctrl', 'S'], what: 'Save now (saving is automatic)' },
    ],
  },
  {
    title: 'Images and review',
    items: [
      { keys: ['F'], what: 'Next image (also → with nothing selected)' },
      { keys: ['D'], what: 'Previous image (also ← with nothing selected)' },
      { keys: ['Shift', 'A'], what: 'Status: accepted' },
      { keys: ['Shift', 'R'], what: 'Status: rejected' },
      { keys: ['Shift', 'S'], what: 'Status: skipped' },
      { keys: ['Shift', 'P'], what: 'Status: pending' },
    ],
  },
  {
    title: 'View',
    items: [
      { keys: ['wheel'], what: 'Zoom at the pointer (pinch on a trackpad or touch screen)' },
      { keys: ['Space', 'drag'], what: 'Pan (also the middle button, or dragging empty space with Select)' },
      { keys: ['0'], what: 'Fit the image' },
      { keys: ['Z'], what: 'Actual size (1:1)' },
      { keys: ['+', '−'], what: 'Zoom in, out' },
      { keys: ['H'], what: 'Hide or show the shapes' },
      { keys: ['?'], what: 'This help' },
    ],
  },
];
