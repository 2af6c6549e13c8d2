"""`pix2pix-node bench`: the node's figures as a command anyone can run.

One run measures three things on the same weights, preprocessing and frames: the live node
(threads, mailboxes, sinks) on the synthetic scene, the backend's bare session in a tight loop
(the node's ceiling), and the original 2017 app's sequential loop (read, preprocess, TF1
`session.run` with a feed_dict, postprocess, publish). A model swap and a preset morph happen
in the middle of the node run, so their cost shows in the figures and in the plot.
"""
